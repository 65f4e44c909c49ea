package dev.ignition.internal.vm;

import dev.ignition.IllegalVmStateException;
import dev.ignition.memory.GuestMemory;
import org.jspecify.annotations.Nullable;

/**
 * What the snapshot store needs of a running VM, beyond the public API. Implemented by the
 * core's VirtualMachine; exported only to Ignition's own modules.
 */
public interface MachineInternals {
    String backend();

    GuestMemory memory();

    int vcpuCount();

    boolean tracksDirtyPages();

    /**
     * Pauses the VM (if running) and captures every vCPU, the hypervisor and every device. The
     * returned capture holds the pause: closing it resumes the VM if it was running. When the VM
     * tracks dirty pages, the pages written since the previous published capture (by the guest and
     * by the host, plus those of captures closed unpublished) come too, and tracking restarts from
     * now. Every writable disk file is fsynced, so the disks in the capture can be cloned as the
     * guest left them while the VM stays paused. On failure the VM is resumed if it was running.
     *
     * @throws IllegalVmStateException if the VM is not running or paused
     */
    Capture capture();

    /**
     * Forgets the pages written so far (hypervisor log and host bitmap), so that tracking starts
     * afresh: the next writes to every page are logged (and, under write-protect tracking, fault)
     * again. Used by benchmarks that measure the tracking cost.
     */
    void resetDirtyTracking();

    /**
     * Does everything {@code start()} does except letting the guest run: creates the vCPU threads
     * and vCPUs and restores the snapshot's state, so that a later {@code start()} only releases
     * them. The VM stays {@code CREATED}; {@code close()} releases what this made. Idempotent.
     *
     * @throws IllegalVmStateException if the VM is not {@code CREATED}
     */
    void prepareStart();

    /** The snapshot this VM descends from, or null: the parent of its next automatic diff. */
    @Nullable SnapshotLineage lineage();

    /** Records that this VM was just snapshotted as, or restored from, {@code lineage}. */
    void lineage(SnapshotLineage lineage);
}
