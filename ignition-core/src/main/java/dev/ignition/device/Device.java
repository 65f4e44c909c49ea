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
     * The device's state for a snapshot, taken while the VM is paused: everything a restored VM
     * needs for the device to carry on (registers, queued data, interrupt levels). There is no
     * default, so that no device loses its state by forgetting this: a device without state says
     * so by returning an empty array (and rejecting any state in {@link #restoreState}).
     */
    byte[] saveState();

    /**
     * Restores what {@link #saveState()} returned, before the restored VM runs. Reject state that
     * does not fit (it comes from a file) with an exception naming the problem.
     */
    void restoreState(byte[] state);

    /**
     * For devices without state: accepts only the empty state {@link #saveState()} of such a
     * device returns.
     *
     * @throws IllegalArgumentException naming {@code device} otherwise
     */
    static void requireNoState(Device device, byte[] state) {
        if (state.length != 0) {
            throw new IllegalArgumentException(device.name() + " has no state, but " + state.length
                    + " bytes were given");
        }
    }

    /** Releases the device's resources when the VM closes. */
    @Override
    default void close() {}
}
