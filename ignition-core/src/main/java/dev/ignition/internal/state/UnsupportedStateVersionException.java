package dev.ignition.internal.state;

import java.io.Serial;

/** A record carries a version this build does not read (written by a newer or an older Ignition). */
public final class UnsupportedStateVersionException extends CorruptStateException {
    @Serial private static final long serialVersionUID = 1L;
    private final int found;
    private final int supported;

    UnsupportedStateVersionException(String message, String record, int found, int supported) {
        super(message, record, null);
        this.found = found;
        this.supported = supported;
    }

    /** The version in the state. */
    public int found() {
        return found;
    }

    /** The newest version this build reads. */
    public int supported() {
        return supported;
    }
}
