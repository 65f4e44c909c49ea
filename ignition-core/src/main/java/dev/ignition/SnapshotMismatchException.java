package dev.ignition;

import java.io.Serial;

/**
 * A snapshot cannot be restored into this VM or on this host: its recorded memory layout, vCPU
 * count, CPU features or device set differ, or its VM state is of a format this build does not
 * read. The message names what differs.
 */
public final class SnapshotMismatchException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;

    public SnapshotMismatchException(String message) {
        super(message);
    }

    /** @param cause what failed underneath, e.g. the decoder's exception naming the field */
    public SnapshotMismatchException(String message, Throwable cause) {
        super(message, cause);
    }
}
