package dev.ignition.spi;

/**
 * One virtual CPU. All methods but {@link #requestExit()} must be called on the thread that
 * created it.
 */
public interface Vcpu extends AutoCloseable {
    int index();

    /**
     * Runs the guest until an exit the VMM must handle. Port and MMIO reads must be answered with
     * {@link #completeRead(long)} before the next call.
     */
    VcpuExit run();

    /** Supplies the value of the pending {@link VcpuExit.PortIn} or {@link VcpuExit.MmioRead}. */
    void completeRead(long value);

    /**
     * Makes the current or next {@link #run()} return {@link VcpuExit.Interrupted} promptly.
     * Safe from any thread.
     */
    void requestExit();

    /**
     * Captures this vCPU's complete register state as a backend-defined, versioned blob for a
     * snapshot. Call on the owning thread while the vCPU is stopped (not inside {@link #run()})
     * and with no MMIO or port read pending.
     *
     * @throws UnsupportedOperationException if the backend cannot snapshot vCPUs
     */
    default byte[] captureState() {
        throw new UnsupportedOperationException(getClass().getName() + " cannot capture vCPU state");
    }

    /**
     * Restores a blob from {@link #captureState()} of the vCPU with the same index, on the owning
     * thread, before this vCPU first runs. Backends document any required order with
     * {@link HypervisorVm#restoreState(byte[])}. A malformed blob is rejected with an exception
     * before anything is applied.
     *
     * @throws UnsupportedOperationException if the backend cannot snapshot vCPUs
     */
    default void restoreState(byte[] state) {
        throw new UnsupportedOperationException(getClass().getName() + " cannot restore vCPU state");
    }

    @Override
    void close();
}
