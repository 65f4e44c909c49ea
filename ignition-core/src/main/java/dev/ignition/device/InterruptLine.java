package dev.ignition.device;

import dev.ignition.spi.HypervisorVm;

/**
 * A level-triggered interrupt line into the VM's interrupt controller.
 *
 * <p>The lines a {@link DeviceContext} hands to devices added with the builder are always level
 * lines. Internally a backend may also offer edge lines
 * ({@link HypervisorVm#edgeInterruptLine}, KVM: an irqfd), where
 * {@code set(true)} injects one edge and {@code set(false)} does nothing; the VM gives those only
 * to its built-in virtio devices on x86, whose pins are edge-triggered.
 */
public interface InterruptLine {
    /** Drives the line high ({@code true}) or low. Safe from any thread. */
    void set(boolean high);
}
