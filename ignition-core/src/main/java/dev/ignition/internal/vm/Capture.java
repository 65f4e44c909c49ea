package dev.ignition.internal.vm;

import dev.ignition.IgnitionException;
import dev.ignition.IllegalVmStateException;
import dev.ignition.VmState;
import dev.ignition.device.Device;
import dev.ignition.device.Disk;
import dev.ignition.internal.device.DeviceBus;
import dev.ignition.internal.device.SnapshotParticipant;
import dev.ignition.spi.HypervisorVm;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A paused VM's captured state, what a snapshot writes, and the pause itself: {@link #close()}
 * resumes the VM if it was running when captured, and gives the capture's dirty pages back
 * unless it was {@linkplain #published() published}, so the next capture still returns every
 * page written since the last published one. Use it in try-with-resources.
 */
public final class Capture implements AutoCloseable {
    private final List<byte[]> vcpus;
    private final byte[] vm;
    private final Map<String, byte[]> devices;
    private final long @Nullable [][] dirty;
    private final List<Disk> disks;
    private final VmLifecycle lifecycle;
    private final DirtyLog dirtyLog;
    private final boolean resume;
    private boolean published;
    private boolean closed;

    private Capture(List<byte[]> vcpus, byte[] vm, Map<String, byte[]> devices, long @Nullable [][] dirty,
            List<Disk> disks, VmLifecycle lifecycle, DirtyLog dirtyLog, boolean resume) {
        this.vcpus = List.copyOf(vcpus);
        this.vm = vm;
        this.devices = devices;
        this.dirty = dirty;
        this.disks = disks;
        this.lifecycle = lifecycle;
        this.dirtyLog = dirtyLog;
        this.resume = resume;
    }

    /**
     * Pauses the VM (if running) and captures every vCPU, the hypervisor and every device; see
     * {@link MachineInternals#capture()}. On failure the VM is resumed if it was running and
     * nothing drained is lost.
     *
     * @param disks the attached disks in slot order
     */
    public static Capture take(VmLifecycle lifecycle, DeviceBus bus, HypervisorVm hvVm, DirtyLog dirtyLog, List<Disk> disks) {
        boolean wasRunning = lifecycle.state() == VmState.RUNNING;
        lifecycle.pause();
        try {
            VmState state = lifecycle.state();
            if (state != VmState.PAUSED) {
                throw new IllegalVmStateException("snapshot", state);
            }
            List<byte[]> vcpus = lifecycle.captureVcpus();
            // Devices before the hypervisor: a device could still raise an interrupt while saved.
            Map<String, byte[]> devices = new LinkedHashMap<>();
            for (Device d : bus.devices()) {
                synchronized (d) {
                    byte[] st;
                    try {
                        st = d.saveState();
                    } catch (RuntimeException e) {
                        throw new IgnitionException("device '" + d.name() + "' failed to save its state: " + e.getMessage(), e);
                    }
                    if (st.length > 0) {
                        devices.put(d.name(), st);
                    }
                }
            }
            byte[] vm = hvVm.captureState();
            // Requests are served synchronously on vCPU threads, so once the VM is paused no
            // write is in flight; the flush makes the disks as the guest left them safe to clone.
            for (Device d : bus.devices()) {
                if (d instanceof SnapshotParticipant p) {
                    p.flushForSnapshot();
                }
            }
            long[][] dirty = dirtyLog.tracks() ? dirtyLog.drain() : null;
            return new Capture(vcpus, vm, devices, dirty, disks, lifecycle, dirtyLog, wasRunning);
        } catch (RuntimeException | Error e) {
            resumeIfPaused(lifecycle, wasRunning);
            throw e;
        }
    }

    /** One state per vCPU, in vCPU order. */
    public List<byte[]> vcpus() {
        return vcpus;
    }

    /** The hypervisor's VM-wide state. */
    public byte[] vm() {
        return vm;
    }

    /** Device states by device name (devices without state are left out). */
    public Map<String, byte[]> devices() {
        return devices;
    }

    /**
     * Per memory region, the pages written since the last published capture (bit j of word i =
     * page 64i+j), or null when the VM does not track dirty pages.
     */
    public long @Nullable [][] dirty() {
        return dirty;
    }

    /** The attached disks in slot order; their files are flushed and do not change until {@link #close()}. */
    public List<Disk> disks() {
        return disks;
    }

    /** The capture was written and published: its dirty pages are accounted for. */
    public void published() {
        published = true;
    }

    /** Gives the dirty pages back unless published, then resumes the VM if it was running. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (!published && dirty != null) {
                dirtyLog.giveBack(dirty);
            }
        } finally {
            resumeIfPaused(lifecycle, resume);
        }
    }

    private static void resumeIfPaused(VmLifecycle lifecycle, boolean wasRunning) {
        if (wasRunning && lifecycle.state() == VmState.PAUSED) {
            lifecycle.resume();
        }
    }
}
