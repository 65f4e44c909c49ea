package dev.ignition.internal.virtio;

import java.io.Serial;

/**
 * The driver broke the virtio contract (a descriptor outside guest RAM, a loop, an index beyond
 * the queue...). The transport answers it with {@code DEVICE_NEEDS_RESET}; it never reaches the
 * vCPU loop.
 */
public final class VirtioProtocolException extends RuntimeException {
    @Serial private static final long serialVersionUID = 1L;

    public VirtioProtocolException(String message) {
        super(message);
    }
}
