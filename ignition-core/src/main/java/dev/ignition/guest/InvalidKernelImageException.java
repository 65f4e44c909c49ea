package dev.ignition.guest;

import java.io.Serial;

/**
 * A kernel image cannot be booted: it is not an x86_64 Linux {@code vmlinux} (ELF) or
 * {@code bzImage}, nor an arm64 Linux {@code Image}, or it does not fit the guest's memory. The
 * message names the image and what is wrong with it.
 */
public final class InvalidKernelImageException extends LinuxBootException {
    @Serial private static final long serialVersionUID = 1L;

    public InvalidKernelImageException(String message) {
        super(message);
    }

    public InvalidKernelImageException(String message, Throwable cause) {
        super(message, cause);
    }
}
