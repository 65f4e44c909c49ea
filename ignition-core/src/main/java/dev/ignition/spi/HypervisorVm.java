package dev.ignition.spi;

import dev.ignition.device.InterruptLine;
import java.util.Optional;

/**
 * A created VM: memory registered, interrupt controller set up, no vCPU running yet.
 *
 * <p>Thread safety: {@link #setIrqLine} may be called from any thread (devices raise interrupts
 * from vCPU threads and from host threads); {@link #createVcpu} must be called on the thread that
 * will run that vCPU.
 */
public interface HypervisorVm extends AutoCloseable {
    /**
     * Creates vCPU {@code index} on the calling thread, which must be the thread that later calls
     * {@link Vcpu#run()} (some hypervisors bind vCPUs to their creating thread).
     */
    Vcpu createVcpu(int index, BootState boot);

    /** Drives interrupt line {@code irq} (a GSI on x86, an SPI number on arm64) high or low. */
    void setIrqLine(int irq, boolean high);

    /**
     * A faster line for an <em>edge-triggered</em> pin {@code irq} (x86 GSI), or empty if this
     * backend has none (then use {@link #setIrqLine}). Its {@code set(true)} injects one edge
     * (assert, then deassert) without a hypervisor call on the caller's thread (KVM: a write to an
     * eventfd registered with {@code KVM_IRQFD}); {@code set(false)} does nothing, since the pin's
     * level is already low again. Safe from any thread. Only for users that pulse each new
     * interrupt (as the virtio-mmio transport does); a level-triggered pin needs {@link #setIrqLine}.
     * The VM owns the line and releases it in {@link #close()}; asking twice for one pin returns the
     * same line.
     */
    default Optional<InterruptLine> edgeInterruptLine(int irq) {
        return Optional.empty();
    }

    /**
     * Returns and clears the pages the guest wrote in memory region {@code regionIndex} since the
     * last call (bit {@code j} of word {@code i} is page {@code 64 i + j}).
     *
     * @throws IllegalStateException if the VM was created without dirty tracking
     */
    long[] fetchDirtyPages(int regionIndex);

    /**
     * VM-wide hypervisor state (interrupt controllers, timers, clocks) as an opaque, versioned
     * blob; the vCPUs are paused. Device models are captured by the VMM, not here.
     */
    default byte[] captureState() {
        throw new UnsupportedOperationException(getClass().getName() + " cannot capture VM state");
    }

    /**
     * Restores a blob from {@link #captureState()} into a fresh VM created over the restored
     * memory. Order (the strictest backend's, Hypervisor.framework's): create every vCPU in index
     * order, then call this, then {@link Vcpu#restoreState(byte[])} on each vCPU's thread, then
     * run.
     */
    default void restoreState(byte[] state) {
        throw new UnsupportedOperationException(getClass().getName() + " cannot restore VM state");
    }

    /** Releases every native resource. Idempotent; vCPUs must have been closed first. */
    @Override
    void close();
}
