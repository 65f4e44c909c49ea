package dev.ignition.guest;

import dev.ignition.IgnitionException;
import java.io.Serial;

/** A {@link ShellSession} could not reach the guest's shell, or a command did not finish in time. */
public final class ShellException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;

    public ShellException(String message) {
        super(message);
    }
}
