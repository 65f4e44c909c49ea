package dev.ignition;

import dev.ignition.device.Device;
import dev.ignition.device.Disk;
import dev.ignition.device.Vsock;
import dev.ignition.internal.device.BootTimer;
import dev.ignition.internal.device.DeviceBus;
import dev.ignition.internal.vm.Capture;
import dev.ignition.internal.vm.DirtyLog;
import dev.ignition.internal.vm.MachineInternals;
import dev.ignition.internal.vm.SnapshotLineage;
import dev.ignition.internal.vm.VmLifecycle;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.HypervisorVm;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * The {@link VirtualMachine} implementation, as {@link MachineAssembly} put it together: owns
 * memory, the backend VM, the devices and the image it was restored from, and hands the run
 * state to its {@link VmLifecycle} and captures to {@link Capture}.
 */
final class Machine implements VirtualMachine, MachineInternals {
    private final String backendName;
    private final GuestMemory memory;
    private final HypervisorVm hvVm;
    private final DeviceBus bus;
    private final Console console;
    private final BootTimer bootTimer;
    private final VmLifecycle lifecycle;
    private final DirtyLog dirtyLog;
    /** The attached disks in slot order (the image's when it brings its own). */
    private final List<Disk> disks;
    private final @Nullable Vsock vsock;
    private final @Nullable NetworkAttachment network;
    /** The image this VM was restored from; released when the VM closes. */
    private final @Nullable VmImage image;
    private volatile @Nullable SnapshotLineage lineage;

    Machine(String backendName, GuestMemory memory, HypervisorVm hvVm, DeviceBus bus, Console console,
            BootTimer bootTimer, VmLifecycle lifecycle, boolean tracksDirty, List<Disk> disks, @Nullable Vsock vsock,
            @Nullable NetworkAttachment network, @Nullable VmImage image) {
        this.backendName = backendName;
        this.memory = memory;
        this.hvVm = hvVm;
        this.bus = bus;
        this.console = console;
        this.bootTimer = bootTimer;
        this.lifecycle = lifecycle;
        this.dirtyLog = new DirtyLog(memory, hvVm, tracksDirty);
        this.disks = List.copyOf(disks);
        this.vsock = vsock;
        this.network = network;
        this.image = image;
    }

    @Override
    public void start() {
        lifecycle.start();
    }

    @Override
    public void prepareStart() {
        lifecycle.prepareStart();
    }

    @Override
    public void pause() {
        lifecycle.pause();
    }

    @Override
    public void resume() {
        lifecycle.resume();
    }

    @Override
    public VmState state() {
        return lifecycle.state();
    }

    @Override
    public Optional<VmExit> awaitExit(Duration timeout) {
        return lifecycle.awaitExit(timeout);
    }

    @Override
    public Optional<VmExit> exit() {
        return lifecycle.exit();
    }

    @Override
    public Console console() {
        return console;
    }

    @Override
    public GuestMemory memory() {
        return memory;
    }

    @Override
    public Optional<Vsock> vsock() {
        return Optional.ofNullable(vsock);
    }

    @Override
    public Optional<NetworkAttachment> network() {
        return Optional.ofNullable(network);
    }

    @Override
    public Optional<Duration> bootTime() {
        long n = bootTimer.bootNanos();
        return n < 0 ? Optional.empty() : Optional.of(Duration.ofNanos(n));
    }

    @Override
    public void close() {
        if (!lifecycle.stop()) {
            return;
        }
        RuntimeException failure = null;
        for (Device d : bus.devices()) {
            try {
                d.close();
            } catch (RuntimeException e) {
                failure = e;
            }
        }
        try {
            hvVm.close();
        } finally {
            memory.close();
            lifecycle.closed();
            console.end(VmState.CLOSED);
            if (image != null) {
                try {
                    image.release(); // after the devices closed their disk files
                } catch (RuntimeException e) {
                    failure = failure == null ? e : failure;
                }
            }
        }
        if (failure != null) {
            throw new IgnitionException("a device failed to close", failure);
        }
    }

    // ---- MachineInternals ----

    @Override
    public String backend() {
        return backendName;
    }

    @Override
    public int vcpuCount() {
        return lifecycle.vcpuCount();
    }

    @Override
    public boolean tracksDirtyPages() {
        return dirtyLog.tracks();
    }

    @Override
    public void resetDirtyTracking() {
        dirtyLog.reset();
    }

    @Override
    public Capture capture() {
        return Capture.take(lifecycle, bus, hvVm, dirtyLog, disks);
    }

    @Override
    public @Nullable SnapshotLineage lineage() {
        return lineage;
    }

    @Override
    public void lineage(SnapshotLineage lineage) {
        this.lineage = lineage;
    }

    @Override
    public String toString() {
        return "VirtualMachine[" + backendName + ", " + (memory.size() >> 20) + " MiB, " + vcpuCount() + " vCPU, "
                + state() + "]";
    }
}
