package dev.ignition.guest;

import java.io.Serial;

/**
 * A kernel image is not a bootable x86_64 Linux {@code vmlinux} (ELF) or {@code bzImage}: the
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
