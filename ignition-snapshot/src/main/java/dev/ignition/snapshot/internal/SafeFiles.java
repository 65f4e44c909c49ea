package dev.ignition.snapshot.internal;

import dev.ignition.internal.posix.Libc;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Opens the store's own files as untrusted input: never through a symbolic link (checked with
 * {@code lstat}, then opened with {@code O_NOFOLLOW}), only regular files and directories (a FIFO
 * would block {@code open} forever, a device would never end), and small metadata only up to a
 * cap, so that a hostile store cannot make the reader read another file, hang or run out of memory.
 *
 * <p>Failures are {@link Refused} (an {@link IOException} whose message is a complete reason that
 * names the file but never quotes its content) or the JDK's {@link NoSuchFileException}; callers
 * wrap them in the exception of their level (a layer's or a name's).
 */
public final class SafeFiles {
    /** O_NOFOLLOW: fail with ELOOP when the last component is a link (its value differs on arm64 Linux). */
    static final int O_NOFOLLOW = Libc.OS == Libc.Os.MACOS ? 0x100
            : "aarch64".equals(System.getProperty("os.arch")) ? 0x8000 : 0x20000;
    /** O_NONBLOCK: an open of a FIFO swapped in after the check returns instead of waiting for a writer. */
    static final int O_NONBLOCK = Libc.OS == Libc.Os.MACOS ? 0x4 : 0x800;
    private static final int ELOOP = Libc.OS == Libc.Os.MACOS ? 62 : 40;

    private SafeFiles() {}

    /** A file of the store is not what the store may open; the message is the whole reason. */
    public static final class Refused extends IOException {
        private static final long serialVersionUID = 1L;

        public Refused(String reason) {
            super(reason);
        }
    }

    /** The file's attributes, links not followed. */
    public static BasicFileAttributes lstat(Path p) throws IOException {
        return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    }

    /** What a non-regular entry is, for messages. */
    static String kind(BasicFileAttributes a) {
        if (a.isSymbolicLink()) {
            return "a symbolic link";
        }
        if (a.isDirectory()) {
            return "a directory";
        }
        if (a.isRegularFile()) {
            return "a regular file";
        }
        return "a special file (FIFO, socket or device)";
    }

    /**
     * The size of {@code f}, which must be a regular file and not a link.
     *
     * @param what how messages name the file, e.g. {@code "pages.idx"}
     * @throws NoSuchFileException if it does not exist
     * @throws Refused if it is a link, a directory or a special file
     */
    public static long regularFileSize(Path f, String what) throws IOException {
        BasicFileAttributes a = lstat(f);
        if (!a.isRegularFile()) {
            throw new Refused(what + " is not a regular file (it is " + kind(a) + "): the store follows no links"
                    + " and opens no special files");
        }
        return a.size();
    }

    /** Checks that {@code d} is a directory and not a link to one. */
    public static void requireDirectory(Path d, String what) throws IOException {
        BasicFileAttributes a = lstat(d);
        if (!a.isDirectory()) {
            throw new Refused(what + " is not a directory (it is " + kind(a) + "): the store follows no links");
        }
    }

    /** Opens a regular file for reading, never through a link. */
    public static FileChannel openRead(Path f, String what) throws IOException {
        regularFileSize(f, what);
        try {
            return FileChannel.open(f, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
        } catch (FileSystemException e) {
            throw refusedIfLink(f, what, e);
        }
    }

    /** A link swapped in between the check and the open makes the open fail: say so. */
    private static IOException refusedIfLink(Path f, String what, FileSystemException e) {
        try {
            if (lstat(f).isSymbolicLink()) {
                return new Refused(what + " is not a regular file (it is a symbolic link): the store follows no links");
            }
        } catch (IOException ignored) {
            // the original error says more
        }
        return e;
    }

    /**
     * Reads a whole metadata file of at most {@code max} bytes; a larger one is refused unread.
     *
     * @throws Refused if it is not a regular file or is over the cap
     */
    public static byte[] readCapped(Path f, String what, int max) throws IOException {
        try (FileChannel ch = openRead(f, what)) {
            long size = ch.size();
            if (size > max) {
                throw new Refused(what + " is " + size + " bytes, over the " + max + "-byte limit");
            }
            return readFully(ch, (int) size, what);
        }
    }

    /**
     * Reads a whole file that must be exactly {@code expected} bytes, checked on the open channel
     * before anything is allocated.
     *
     * @throws DurableFiles.SizeMismatch if its size differs
     */
    public static byte[] readExactly(Path f, String what, long expected) throws IOException {
        try (FileChannel ch = openRead(f, what)) {
            long size = ch.size();
            if (size != expected || size > Integer.MAX_VALUE - 8) {
                throw new DurableFiles.SizeMismatch(size);
            }
            return readFully(ch, (int) size, what);
        }
    }

    private static byte[] readFully(FileChannel ch, int size, String what) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(size);
        while (b.hasRemaining()) {
            if (ch.read(b, b.position()) < 0) {
                throw new Refused(what + " shrank while it was read (" + b.position() + " of " + size + " bytes)");
            }
        }
        return b.array();
    }

    /**
     * Opens a regular file read-only as a raw descriptor (for {@code mmap}), never through a link
     * and without blocking on a FIFO. The caller closes it.
     */
    public static int openFd(Path f, String what) throws IOException {
        regularFileSize(f, what);
        int fd = Libc.tryOpen(f.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd == -ELOOP) {
            throw new Refused(what + " is not a regular file (it is a symbolic link): the store follows no links");
        }
        if (fd < 0) {
            throw new IOException("cannot open " + f + ": " + Libc.error("open", -fd).getMessage());
        }
        return fd;
    }
}
