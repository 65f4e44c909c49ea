package dev.ignition.snapshot;

/** How {@link FileClone#cloneOrCopy} produced its copy. */
public enum CloneMethod {
    /** Linux {@code ioctl(FICLONE)}: the copy shares the source's extents (xfs, btrfs, ...). */
    FICLONE,
    /** macOS {@code clonefile(2)} on APFS. */
    CLONEFILE,
    /** The filesystem cannot clone; the bytes were copied (and a message was logged). */
    COPY
}
