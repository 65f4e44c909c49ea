package dev.ignition.guest;

import dev.ignition.IgnitionException;
import java.io.Serial;

/** The default Linux guest has not been built on this machine; the message gives the command that builds it. */
public final class GuestNotBuiltException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;

    private final String buildCommand;

    public GuestNotBuiltException(String message, String buildCommand) {
        super(message + "; build it with: " + buildCommand);
        this.buildCommand = buildCommand;
    }

    /** The shell command that builds the guest. */
    public String buildCommand() {
        return buildCommand;
    }
}
