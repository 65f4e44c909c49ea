package dev.ignition.snapshot;

import java.io.Serial;

/**
 * An operation conflicts with the store's contents: the name exists, a diff would take its
 * parent's name, the memory does not match the parent's layout, or a delete would orphan children.
 */
public final class SnapshotConflictException extends SnapshotException {
    @Serial private static final long serialVersionUID = 1L;

    public SnapshotConflictException(String message) {
        super(message);
    }
}
