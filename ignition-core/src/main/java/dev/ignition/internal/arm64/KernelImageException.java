package dev.ignition.internal.arm64;

import dev.ignition.IgnitionException;
import java.io.Serial;

/** A kernel image is not a loadable arm64 Linux {@code Image}; the message says what it is instead. */
public final class KernelImageException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;

    public KernelImageException(String message) {
        super(message);
    }
}
