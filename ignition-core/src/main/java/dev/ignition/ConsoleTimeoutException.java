package dev.ignition;

import java.io.Serial;

/** Expected console output did not arrive in time. */
public final class ConsoleTimeoutException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;

    public ConsoleTimeoutException(String message) {
        super(message);
    }
}
