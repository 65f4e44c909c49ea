package dev.ignition.snapshot.internal;

import dev.ignition.snapshot.SnapshotException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The store's {@code work/} directory: one subdirectory per restored VM for its working disk
 * copies. A subdirectory is locked ({@code in-use.lock}) while its VM lives and deleted when the VM
 * closes; one nobody holds the lock of is a leftover of a process that died, removed when a store
 * is opened.
 */
public final class WorkArea {
    private static final Logger LOG = LoggerFactory.getLogger(WorkArea.class);
    static final String LOCK = "in-use.lock";

    private WorkArea() {}

    /** A locked working directory; {@link #close()} deletes it. Idempotent. */
    public static final class Lease implements AutoCloseable {
        private final Path dir;
        private final FileChannel channel;
        private final FileLock lock;
        private boolean closed;

        private Lease(Path dir, FileChannel channel, FileLock lock) {
            this.dir = dir;
            this.channel = channel;
            this.lock = lock;
        }

        public Path dir() {
            return dir;
        }

        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            try {
                DurableFiles.deleteTree(dir); // the lock file goes too; the lock is held until the channel closes
            } finally {
                try {
                    lock.release();
                    channel.close();
                } catch (IOException e) {
                    LOG.warn("Cannot release the lock of working directory {}: {}", dir, e.toString());
                }
            }
        }
    }

    /** Creates and locks a new working directory under {@code work}. */
    public static Lease create(Path work) {
        Path dir = work.resolve(UUID.randomUUID().toString());
        FileChannel ch = null;
        try {
            Files.createDirectory(dir);
            ch = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            return new Lease(dir, ch, ch.lock());
        } catch (IOException | RuntimeException e) {
            try {
                if (ch != null) {
                    ch.close();
                }
            } catch (IOException ignored) {
                // reported below
            }
            DurableFiles.deleteTree(dir);
            throw new SnapshotException("cannot create a working directory in " + work + ": " + e, e);
        }
    }

    /** Removes working directories whose lock nobody holds (their VM's process is gone). */
    static int removeStale(Path work) throws IOException {
        int removed = 0;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(work)) {
            for (Path dir : s) {
                if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                    Files.deleteIfExists(dir);
                    removed++;
                    continue;
                }
                Path lockFile = dir.resolve(LOCK);
                BasicFileAttributes lockAttrs;
                try {
                    lockAttrs = SafeFiles.lstat(lockFile);
                } catch (NoSuchFileException e) {
                    // Created a moment ago and not yet locked, or half deleted: leave it for the next open.
                    continue;
                }
                if (!lockAttrs.isRegularFile()) {
                    // Never written by a VM (whose lock is a regular file): opening it could block on a
                    // FIFO or lock a file elsewhere. The tree is deleted without following links.
                    LOG.warn("Removing {}: its {} is not a regular file", dir, LOCK);
                    DurableFiles.deleteTree(dir);
                    removed++;
                    continue;
                }
                try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.WRITE,
                        LinkOption.NOFOLLOW_LINKS);
                     FileLock l = ch.tryLock()) {
                    if (l == null) {
                        continue; // another process's live VM
                    }
                    DurableFiles.deleteTree(dir);
                    removed++;
                } catch (OverlappingFileLockException e) {
                    // A live VM of this JVM holds it.
                } catch (NoSuchFileException e) {
                    // Its VM closed meanwhile.
                } catch (FileSystemException e) {
                    // Replaced by a link since the check (O_NOFOLLOW refused it): leave it for the next open.
                    LOG.warn("Cannot check working directory {}: {}", dir, e.toString());
                }
            }
        }
        if (removed > 0) {
            LOG.info("Removed {} working director(y/ies) of VMs whose process is gone from {}", removed, work);
        }
        return removed;
    }
}
