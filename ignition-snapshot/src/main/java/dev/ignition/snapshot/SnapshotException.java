package dev.ignition.snapshot;

import dev.ignition.IgnitionException;
import java.io.Serial;

/** Root of the snapshot store's exceptions. */
public class SnapshotException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;

    public SnapshotException(String message) {
        super(message);
    }

    public SnapshotException(String message, Throwable cause) {
        super(message, cause);
    }
}
