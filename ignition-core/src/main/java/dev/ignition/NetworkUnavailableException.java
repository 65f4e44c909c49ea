package dev.ignition;

import java.io.Serial;

/**
 * The network a VM asked for cannot be set up here: the user-mode networking program is not
 * installed, it failed to start, or the process may not create the TAP interface. The message
 * says what to install or change.
 */
public final class NetworkUnavailableException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;

    public NetworkUnavailableException(String message) {
        super(message);
    }

    public NetworkUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
