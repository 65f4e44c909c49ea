package dev.ignition.spi;

/**
 * One virtual CPU. All methods but {@link #requestExit()} must be called on the thread that
 * created it.
 */
public interface Vcpu extends AutoCloseable {
    int index();

    /**
     * Runs the guest until an exit the VMM must handle. A {@link VcpuExit.Read} (port or MMIO
     * read) must be answered with {@link VcpuExit.Read#complete(long)} before the next call;
     * running with a read unanswered throws {@link IllegalStateException}.
     */
    VcpuExit run();

    /**
     * Makes the current or next {@link #run()} return {@link VcpuExit.Interrupted} promptly.
     * Safe from any thread.
     */
    void requestExit();

    /**
     * True while the last exit is one of several an instruction needs (string port I/O): the
     * VMM calls {@link #run()} again before pausing.
     */
    default boolean midInstruction() {
        return false;
    }

    /**
     * Completes any exit the hypervisor has not finished yet (KVM finishes port and MMIO reads on
     * the next entry) without running guest code, so that captured state is exact. Called on the
     * vCPU's thread while the VM is paused.
     */
    default void settle() {}

    /**
     * The vCPU's complete architectural state as an opaque, versioned blob. Called on the vCPU's
     * thread while the VM is paused and settled.
     */
    default byte[] captureState() {
        throw new UnsupportedOperationException(getClass().getName() + " cannot capture vCPU state");
    }

    /**
     * Does what the hypervisor does once, at a vCPU's first run, without running guest code, so
     * that a VM prepared ahead of its start does not pay it then. Called on the vCPU's thread,
     * after its state is set and before it first runs. Optional.
     */
    default void warmUp() {}

    /**
     * Whether {@link #captureState()} may also be called from another thread while this vCPU is
     * paused and settled, sparing two thread hand-offs per snapshot. KVM allows it (the kernel
     * serialises vCPU ioctls); Hypervisor.framework binds a vCPU to its thread, so the default is no.
     */
    default boolean capturableFromAnyThread() {
        return false;
    }

    /** Restores a blob from {@link #captureState()}; called on the vCPU's thread before it runs. */
    default void restoreState(byte[] state) {
        throw new UnsupportedOperationException(getClass().getName() + " cannot restore vCPU state");
    }

    @Override
    void close();
}
