package dev.ignition.internal.device;

/**
 * A device with work to do around snapshots beyond {@code saveState}/{@code restoreState}. The
 * VM calls these on every device on its bus that implements this, so it never needs to know
 * which device model needs what.
 */
public interface SnapshotParticipant {
    /**
     * Makes what the snapshot refers to outside guest memory durable (a disk: fsync its image),
     * so it can be cloned as the guest left it. Called while the VM is paused, after the
     * device's state was saved.
     */
    default void flushForSnapshot() {}

    /**
     * Delivers what the guest must see before it runs on, once a restored VM's interrupt
     * controllers and vCPUs hold their restored state.
     */
    default void afterRestore() {}
}
