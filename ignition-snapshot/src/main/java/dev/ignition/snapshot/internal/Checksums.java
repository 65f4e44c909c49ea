package dev.ignition.snapshot.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.zip.CRC32C;

/** CRC32C of files and buffers, SHA-256 of manifests, and their text forms. */
public final class Checksums {
    private static final HexFormat HEX = HexFormat.of();
    private static final int CHUNK = 1 << 20;

    private Checksums() {}

    public static String crcHex(long crc) {
        return String.format("%08x", crc & 0xffffffffL);
    }

    public static String sha256Hex(byte[] data) {
        try {
            return HEX.formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }

    public static long crc32c(byte[] data, int offset, int length) {
        CRC32C c = new CRC32C();
        c.update(data, offset, length);
        return c.getValue();
    }

    /**
     * CRC32C of a whole regular file, read in 1 MiB chunks through a direct buffer; opened without
     * following links, like everything the store reads.
     */
    public static long crc32c(Path file) throws IOException {
        CRC32C c = new CRC32C();
        ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
        try (FileChannel ch = SafeFiles.openRead(file, file.getFileName().toString())) {
            while (ch.read(buf) >= 0) {
                buf.flip();
                c.update(buf);
                buf.clear();
            }
        }
        return c.getValue();
    }
}
