package dev.ignition.snapshot;

import java.io.Serial;

/**
 * A diff snapshot was asked for but cannot be written: the VM does not track dirty pages, or it
 * has no previous snapshot in the store to diff against. Take a full snapshot instead (or build
 * the VM with {@code trackDirtyPages(true)}).
 */
public final class DiffUnavailableException extends SnapshotException {
    @Serial private static final long serialVersionUID = 1L;

    public DiffUnavailableException(String message) {
        super(message);
    }
}
