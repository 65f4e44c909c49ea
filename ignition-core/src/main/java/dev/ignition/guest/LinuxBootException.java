package dev.ignition.guest;

import dev.ignition.IgnitionException;
import java.io.Serial;

/**
 * A Linux guest cannot be booted as configured: the kernel, initramfs and command line do not fit
 * the VM (too little RAM, command line too long, too many vCPUs for the MP table, ...).
 */
public class LinuxBootException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;

    public LinuxBootException(String message) {
        super(message);
    }

    public LinuxBootException(String message, Throwable cause) {
        super(message, cause);
    }
}
