package dev.ignition.snapshot.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.ignition.internal.posix.Libc;
import dev.ignition.snapshot.CloneMethod;
import dev.ignition.snapshot.SnapshotException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** FICLONE (Linux) and clonefile (macOS) through FFM, with a logged copying fallback. */
public final class NativeClone {
    private static final Logger LOG = LoggerFactory.getLogger(NativeClone.class);

    /** {@code _IOW(0x94, 9, int)} from linux/fs.h. */
    public static final long FICLONE = 0x40049409L;
    private static final int O_WRONLY = 1;

    /** {@code int clonefile(const char *src, const char *dst, uint32_t flags)}; absent off macOS. */
    private static final @Nullable MethodHandle CLONEFILE = Libc.OS == Libc.Os.MACOS
            ? Libc.bindOptional("clonefile", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT), true)
            : null;

    /** clonefile(2) flag: do not follow the source if it is a symbolic link. */
    private static final int CLONE_NOFOLLOW = 0x0001;

    private NativeClone() {}

    public static CloneMethod cloneOrCopy(Path source, Path target) {
        return cloneOrCopy(source, target, true);
    }

    /**
     * Clones a file of the store (a layer's disk) out of it: as {@link #cloneOrCopy(Path, Path)},
     * but the source is never opened through a link and must be a regular file, so a tampered
     * layer cannot hand a VM a copy of another host file or block on a FIFO.
     */
    public static CloneMethod cloneFromStore(Path source, Path target) {
        try {
            SafeFiles.regularFileSize(source, source.toString());
        } catch (IOException e) {
            throw new SnapshotException("cannot clone " + source + ": " + e.getMessage(), e);
        }
        return cloneOrCopy(source, target, false);
    }

    private static CloneMethod cloneOrCopy(Path source, Path target, boolean followLinks) {
        if (followLinks && !Files.isRegularFile(source)) {
            throw new SnapshotException("cannot clone " + source + ": not a regular file");
        }
        if (Files.exists(target)) {
            throw new SnapshotException("cannot clone to " + target + ": it already exists");
        }
        String why;
        if (Libc.OS == Libc.Os.LINUX) {
            int errno = ficlone(source, target, followLinks);
            if (errno == 0) {
                return CloneMethod.FICLONE;
            }
            why = "FICLONE failed with " + Libc.error("ioctl(FICLONE)", errno).codeName();
        } else if (CLONEFILE != null) {
            int errno = clonefile(source, target, followLinks);
            if (errno == 0) {
                return CloneMethod.CLONEFILE;
            }
            why = "clonefile failed with " + Libc.error("clonefile", errno).codeName();
        } else {
            why = "this OS has no file cloning call Ignition knows";
        }
        try {
            Files.deleteIfExists(target);
            if (followLinks) {
                Files.copy(source, target);
            } else {
                copyNoFollow(source, target);
            }
            LOG.info("Copied {} to {} ({} bytes) instead of cloning it: {}", source, target, Files.size(target), why);
        } catch (IOException e) {
            throw new SnapshotException("cannot copy " + source + " to " + target + " (" + why + "): " + e, e);
        }
        return CloneMethod.COPY;
    }

    /** Copies a regular file opened without following links. */
    private static void copyNoFollow(Path source, Path target) throws IOException {
        try (FileChannel in = SafeFiles.openRead(source, source.toString());
             FileChannel out = FileChannel.open(target,
                     StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            long size = in.size();
            long pos = 0;
            while (pos < size) {
                long n = in.transferTo(pos, size - pos, out);
                if (n <= 0) {
                    throw new IOException(source + " shrank while it was copied");
                }
                pos += n;
            }
        }
    }

    /** Returns 0 on success or the errno of the failed step; leaves {@code target} created on failure. */
    private static int ficlone(Path source, Path target, boolean followLinks) {
        try {
            Files.createFile(target);
        } catch (FileAlreadyExistsException e) {
            throw new SnapshotException("cannot clone to " + target + ": it already exists");
        } catch (IOException e) {
            throw new SnapshotException("cannot create " + target + ": " + e, e);
        }
        int src = Libc.tryOpen(source.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC
                | (followLinks ? 0 : SafeFiles.O_NOFOLLOW | SafeFiles.O_NONBLOCK));
        if (src < 0) {
            return -src;
        }
        try {
            int dst = Libc.tryOpen(target.toString(), O_WRONLY | Libc.O_CLOEXEC);
            if (dst < 0) {
                return -dst;
            }
            try {
                int rc = Libc.ioctlRaw(dst, FICLONE, src);
                return rc < 0 ? -rc : 0;
            } finally {
                Libc.close(dst);
            }
        } finally {
            Libc.close(src);
        }
    }

    private static int clonefile(Path source, Path target, boolean followLinks) {
        MethodHandle h = CLONEFILE;
        if (h == null) {
            return -1;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = Libc.captureState();
            int rc = (int) h.invokeExact(st, a.allocateFrom(source.toString()), a.allocateFrom(target.toString()),
                    followLinks ? 0 : CLONE_NOFOLLOW);
            return rc == 0 ? 0 : Libc.lastErrno(st);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }
}
