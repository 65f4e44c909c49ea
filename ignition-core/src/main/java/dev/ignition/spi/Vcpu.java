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

    @Override
    void close();
}
