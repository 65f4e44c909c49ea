package dev.ignition.snapshot;

import java.io.Serial;

/** No snapshot of that name exists in the store. */
public final class NoSuchSnapshotException extends SnapshotException {
    @Serial private static final long serialVersionUID = 1L;

    public NoSuchSnapshotException(String name, java.nio.file.Path store) {
        super("no snapshot named '" + name + "' in store " + store);
    }
}
