package dev.ignition.snapshot;

import java.io.Serial;

/** A layer was written in a format version this reader does not understand. */
public final class UnsupportedFormatVersionException extends CorruptLayerException {
    @Serial private static final long serialVersionUID = 1L;

    public UnsupportedFormatVersionException(String layer, long version, int supported) {
        super(layer, "unsupported format version " + version + " (this reader understands versions 1 to "
                + supported + "); upgrade Ignition to read it");
    }
}
