package dev.ignition.device;

import dev.ignition.memory.GuestMemory;

/** What a device may use of its VM. */
public interface DeviceContext {
    /** Guest RAM; writes through it are recorded for diff snapshots. */
    GuestMemory memory();

    /** The interrupt line {@code irq} (a GSI on x86, an SPI on arm64). */
    InterruptLine interruptLine(int irq);

    /** Nanoseconds since the VM started (a monotonic clock). */
    long nanosSinceStart();
}
