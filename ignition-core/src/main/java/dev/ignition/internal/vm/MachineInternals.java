package dev.ignition.internal.vm;

import dev.ignition.device.Disk;
import dev.ignition.memory.GuestMemory;
import java.util.List;
import java.util.Map;
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
     * Pauses the VM (if running) and captures every vCPU, the hypervisor and every device. The VM
     * stays paused; the caller resumes it after writing the snapshot. When the VM tracks dirty
     * pages, the pages written since the previous capture (by the guest and by the host, plus any
     * {@linkplain #returnDirtyPages given back}) come too, and tracking restarts from now. Every writable disk file is fsynced, so the disks
     * in the capture can be cloned as the guest left them while the VM stays paused.
     */
    Captured capture();

    /**
     * Gives back the dirty bitmaps of a capture that was not published (the write failed or was
     * refused): they are OR'ed into what the next {@link #capture()} returns, so the next diff
     * still holds every page written since the last published snapshot.
     *
     * @param dirty the {@link Captured#dirty()} of a capture of this VM
     */
    void returnDirtyPages(long[][] dirty);

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
     * @throws dev.ignition.IllegalVmStateException if the VM is not {@code CREATED}
     */
    void prepareStart();

    /**
     * A capture.
     *
     * @param vcpus one blob per vCPU
     * @param vm the hypervisor's VM-wide state
     * @param devices device states by name
     * @param dirty per memory region, the dirty-page bitmap (bit j of word i = page 64i+j), or
     *     null when the VM does not track dirty pages
     * @param disks the attached disks in slot order (their files must not change until resumed)
     */
    record Captured(List<byte[]> vcpus, byte[] vm, Map<String, byte[]> devices, long @Nullable [][] dirty,
            List<Disk> disks) {}
}
