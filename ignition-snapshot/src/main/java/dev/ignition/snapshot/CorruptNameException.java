package dev.ignition.snapshot;

import java.io.Serial;

/**
 * A name file ({@code names/<name>}) is not what the store writes: not a small regular file
 * holding one layer id (for example a symbolic link, a FIFO, or too large). It is a
 * {@link CorruptLayerException} so that one {@code catch} covers every damaged store file;
 * {@link #layer()} is the name file's path in the store, {@code names/<name>}.
 */
public final class CorruptNameException extends CorruptLayerException {
    @Serial private static final long serialVersionUID = 1L;
    private final String name;

    /**
     * @param name the snapshot's name
     * @param reason what is wrong, for a user
     */
    public CorruptNameException(String name, String reason) {
        super("names/" + name, reason, "snapshot '" + name + "': " + reason);
        this.name = name;
    }

    /** The snapshot's name. */
    public String name() {
        return name;
    }
}
