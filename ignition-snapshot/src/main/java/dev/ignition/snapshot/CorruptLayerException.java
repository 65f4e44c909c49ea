package dev.ignition.snapshot;

import java.io.Serial;

/**
 * A layer failed validation: a file is missing, truncated or corrupt, its manifest is malformed
 * or of an unknown version, or its link to its parent is broken. Thrown before anything is mapped.
 */
public class CorruptLayerException extends SnapshotException {
    @Serial private static final long serialVersionUID = 1L;
    private final String layer;
    private final String reason;

    /**
     * @param layer the layer's id (or the directory name found in the store)
     * @param reason what is wrong, for a user
     */
    public CorruptLayerException(String layer, String reason) {
        super("snapshot layer " + layer + ": " + reason);
        this.layer = layer;
        this.reason = reason;
    }

    /**
     * @param layer the layer's id (or the directory name found in the store)
     * @param reason what is wrong, for a user
     * @param cause the failure that revealed it, e.g. an I/O error
     */
    public CorruptLayerException(String layer, String reason, Throwable cause) {
        super("snapshot layer " + layer + ": " + reason, cause);
        this.layer = layer;
        this.reason = reason;
    }

    /** For subclasses that word the message themselves. */
    protected CorruptLayerException(String layer, String reason, String message) {
        super(message);
        this.layer = layer;
        this.reason = reason;
    }

    /** The layer's id or directory name. */
    public String layer() {
        return layer;
    }

    /** What is wrong. */
    public String reason() {
        return reason;
    }
}
