package dev.ignition.device;

/**
 * A device model attached to a VM. Implement {@link PortIoDevice} or {@link MmioDevice}.
 *
 * <p>Accesses arrive on vCPU threads; the VM serialises calls into one device, so an
 * implementation only needs to guard state it shares with its own threads.
 */
public interface Device extends AutoCloseable {
    /** A short name for logs and error messages. */
    String name();

    /** Called once before the guest starts; keep the context to raise interrupts or reach memory. */
    default void attach(DeviceContext context) {}

    /**
     * The device's state for a snapshot, taken while the VM is paused. Devices without state
     * keep the default (empty).
     */
    default byte[] saveState() {
        return new byte[0];
    }

    /**
     * Restores what {@link #saveState()} returned, before the restored VM runs. Reject state that
     * does not fit (it comes from a file) with an exception naming the problem.
     */
    default void restoreState(byte[] state) {}

    /** Releases the device's resources when the VM closes. */
    @Override
    default void close() {}
}
