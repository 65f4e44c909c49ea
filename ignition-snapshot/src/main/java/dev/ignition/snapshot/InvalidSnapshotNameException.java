package dev.ignition.snapshot;

import java.io.Serial;

/** A snapshot name is not allowed (it could escape the store directory or is malformed). */
public final class InvalidSnapshotNameException extends SnapshotException {
    @Serial private static final long serialVersionUID = 1L;

    public InvalidSnapshotNameException(String name) {
        super("invalid snapshot name '" + name + "': use 1-128 characters from [A-Za-z0-9._-],"
                + " starting with a letter or digit");
    }
}
