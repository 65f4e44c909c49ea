package dev.ignition.memory;

import dev.ignition.IgnitionException;
import java.io.Serial;

/** A guest-physical access fell outside guest RAM (often a hostile or buggy guest). */
public final class GuestMemoryException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;

    public GuestMemoryException(String message) {
        super(message);
    }
}
