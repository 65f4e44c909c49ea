package dev.ignition;

import java.io.Serial;

/** Root of every exception Ignition throws. Unchecked: most failures are not recoverable locally. */
public class IgnitionException extends RuntimeException {
    @Serial private static final long serialVersionUID = 1L;

    public IgnitionException(String message) {
        super(message);
    }

    public IgnitionException(String message, Throwable cause) {
        super(message, cause);
    }
}
