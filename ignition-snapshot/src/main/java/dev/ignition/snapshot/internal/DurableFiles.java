package dev.ignition.snapshot.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.stream.Stream;

/** Writes that survive a crash (fsync of files and directories) and other file helpers of the crash-safety protocol. */
public final class DurableFiles {
    private DurableFiles() {}

    /**
     * fsyncs a directory so that entries created, renamed or removed in it are durable. Opened
     * without following a link, like every path of the store.
     */
    public static void fsyncDir(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            ch.force(true);
        }
    }

    /** Writes {@code data} to a new file and fsyncs it. */
    public static void writeNewFile(Path file, byte[] data) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            writeFully(ch, ByteBuffer.wrap(data), 0);
            ch.force(true);
        }
    }

    /** Writes all of {@code buf} at {@code position}, looping over short writes. */
    public static void writeFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            pos += ch.write(buf, pos);
        }
    }

    /**
     * Deletes a file tree; missing entries are ignored. Links are deleted, never followed (the
     * walk does not follow them, the root included), so cleanup never reaches outside the tree.
     */
    public static void deleteTree(Path root) {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + root, e);
        }
    }

    /** A file's size differed from what was expected while reading it. */
    public static final class SizeMismatch extends IOException {
        private static final long serialVersionUID = 1L;
        private final long actual;

        public SizeMismatch(long actual) {
            super("size " + actual);
            this.actual = actual;
        }

        public long actual() {
            return actual;
        }
    }
}
