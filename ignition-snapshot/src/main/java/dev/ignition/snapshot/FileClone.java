package dev.ignition.snapshot;

import dev.ignition.snapshot.internal.NativeClone;
import java.nio.file.Path;

/**
 * Copy-on-write file copies for memory and disk images: {@code FICLONE} on Linux (xfs with
 * reflink, btrfs), {@code clonefile} on macOS (APFS), and a plain copy elsewhere, logged at INFO
 * so a slow copy is never silent.
 *
 * <pre>{@code
 * CloneMethod how = FileClone.cloneOrCopy(golden.resolve("disk.img"), vmDir.resolve("disk.img"));
 * }</pre>
 */
public final class FileClone {
    private FileClone() {}

    /**
     * Creates {@code target} (which must not exist) with the contents of {@code source}, sharing
     * its blocks where the filesystem can.
     *
     * @return how the copy was made
     * @throws SnapshotException if neither cloning nor copying worked
     */
    public static CloneMethod cloneOrCopy(Path source, Path target) {
        return NativeClone.cloneOrCopy(source, target);
    }
}
