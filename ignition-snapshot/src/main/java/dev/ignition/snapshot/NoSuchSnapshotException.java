package dev.ignition.snapshot;

import java.io.Serial;
import java.nio.file.Path;

/** No snapshot of that name exists in the store. */
public final class NoSuchSnapshotException extends SnapshotException {
    @Serial private static final long serialVersionUID = 1L;

    public NoSuchSnapshotException(String name, Path store) {
        super("no snapshot named '" + name + "' in store " + store);
    }
}
