package dev.ignition.initramfs;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes cpio "newc" (SVR4 without CRC, magic {@code 070701}) as the kernel's
 * {@code usr/gen_init_cpio} does: a 110-byte ASCII header of thirteen 8-digit hex fields, the
 * NUL-terminated name padded to a multiple of 4, then the data padded to a multiple of 4.
 */
final class CpioNewcWriter {
    static final String MAGIC = "070701";
    static final int HEADER_SIZE = 110;
    static final String TRAILER = "TRAILER!!!";

    static final int S_IFREG = 0100000;
    static final int S_IFDIR = 0040000;
    static final int S_IFLNK = 0120000;
    static final int S_IFCHR = 0020000;
    static final int S_IFBLK = 0060000;

    private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    private final OutputStream out;
    private long offset;
    private int nextInode = 1;

    CpioNewcWriter(OutputStream out) {
        this.out = out;
    }

    void write(InitramfsEntry entry) throws IOException {
        // Archive names are relative ("bin/sh"), as gen_init_cpio and cpio -i expect.
        String name = entry.path().substring(1);
        switch (entry) {
            case InitramfsEntry.File f -> record(name, S_IFREG | f.mode(), 1, 0, 0, f.contentUnsafe());
            case InitramfsEntry.Directory d -> record(name, S_IFDIR | d.mode(), 2, 0, 0, new byte[0]);
            case InitramfsEntry.Symlink s ->
                    record(name, S_IFLNK | 0777, 1, 0, 0, s.target().getBytes(StandardCharsets.UTF_8));
            case InitramfsEntry.Device d -> {
                int type = d.kind() == InitramfsEntry.DeviceKind.CHARACTER ? S_IFCHR : S_IFBLK;
                record(name, type | d.mode(), 1, d.major(), d.minor(), new byte[0]);
            }
        }
    }

    void finish() throws IOException {
        nextInode = 0;
        record(TRAILER, 0, 1, 0, 0, new byte[0]);
        out.flush();
    }

    private void record(String name, int mode, int nlink, int rdevMajor, int rdevMinor, byte[] data)
            throws IOException {
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        byte[] header = new byte[HEADER_SIZE];
        System.arraycopy(MAGIC.getBytes(StandardCharsets.US_ASCII), 0, header, 0, 6);
        int[] fields = {
            nextInode == 0 ? 0 : nextInode++, // c_ino
            mode, // c_mode
            0, // c_uid
            0, // c_gid
            nlink, // c_nlink
            0, // c_mtime
            data.length, // c_filesize
            0, // c_devmajor
            0, // c_devminor
            rdevMajor, // c_rdevmajor
            rdevMinor, // c_rdevminor
            nameBytes.length + 1, // c_namesize, including the NUL
            0, // c_check (0 for newc)
        };
        for (int i = 0; i < fields.length; i++) {
            int v = fields[i];
            for (int d = 0; d < 8; d++) {
                header[6 + 8 * i + d] = HEX[(v >>> (28 - 4 * d)) & 0xf];
            }
        }
        out.write(header);
        out.write(nameBytes);
        out.write(0);
        offset += HEADER_SIZE + nameBytes.length + 1;
        pad();
        out.write(data);
        offset += data.length;
        pad();
    }

    private void pad() throws IOException {
        int n = (int) (-offset & 3);
        for (int i = 0; i < n; i++) {
            out.write(0);
        }
        offset += n;
    }
}
