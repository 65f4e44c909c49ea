package dev.ignition;

import dev.ignition.device.Device;
import dev.ignition.device.DeviceContext;
import dev.ignition.device.Disk;
import dev.ignition.device.InterruptLine;
import dev.ignition.guest.Guest;
import dev.ignition.internal.device.DeviceBus;
import dev.ignition.internal.device.SerialIo;
import dev.ignition.internal.net.FrameBackend;
import dev.ignition.internal.net.PasstBackend;
import dev.ignition.internal.net.TapBackend;
import dev.ignition.internal.platform.Platform;
import dev.ignition.internal.platform.X86Platform;
import dev.ignition.internal.posix.Libc;
import dev.ignition.internal.virtio.VirtioMmio;
import dev.ignition.internal.virtio.VirtioNet;
import dev.ignition.internal.virtio.VirtioSlots;
import dev.ignition.internal.virtio.VirtioVsock;
import dev.ignition.internal.vm.VmLifecycle;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.BootState;
import dev.ignition.spi.HypervisorProvider;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.VmConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Puts a VM together from a {@link MachineSpec}: checks what was asked for (image, devices,
 * virtio, network), then creates the backend VM, memory, devices and lifecycle on the platform of
 * the backend's architecture, and restores device state when restoring. On failure it releases
 * what it made.
 */
final class MachineAssembly {
    private static final Logger LOG = LoggerFactory.getLogger(MachineAssembly.class);

    /** The guest's MAC address: locally administered, QEMU's prefix; each VM has its own backend. */
    static final byte[] DEFAULT_MAC = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

    /** A serial port that goes nowhere, for devices built only to check address ranges. */
    private static final SerialIo DETACHED = new SerialIo() {
        @Override
        public void emit(byte[] bytes, int off, int len) {}

        @Override
        public int pollInput() {
            return -1;
        }

        @Override
        public void onInput(Runnable callback) {}
    };

    private MachineAssembly() {}

    /**
     * The builder's configuration, with the image's memory, vCPUs and backend when restoring.
     * Reads the builder and leaves it as it is.
     *
     * @throws SnapshotMismatchException if the builder asks for other values than the image has
     */
    static MachineSpec resolve(VirtualMachine.Builder b) {
        VmImage img = b.image;
        if (img != null) {
            checkImage(b, img);
        }
        return new MachineSpec(img != null ? img.memoryBytes() : b.memoryBytes,
                img != null ? img.vcpuStates().size() : b.vcpus, b.guest, b.consoleOutputs, b.consoleListeners,
                b.devices, b.effectiveDisks(), b.virtioRng, b.vsockCid, b.network, img != null ? img.backend() : b.backend,
                b.trackDirtyPages, img);
    }

    /** Checks an image against what the builder asked for. */
    private static void checkImage(VirtualMachine.Builder b, VmImage img) {
        List<String> mismatch = new ArrayList<>();
        if (b.memorySet && b.memoryBytes != img.memoryBytes()) {
            mismatch.add("the snapshot has " + (img.memoryBytes() >> 20) + " MiB of memory, the builder asks for "
                    + (b.memoryBytes >> 20) + " MiB");
        }
        if (b.vcpusSet && b.vcpus != img.vcpuStates().size()) {
            mismatch.add("the snapshot has " + img.vcpuStates().size() + " vCPUs, the builder asks for " + b.vcpus);
        }
        if (b.backend != null && !b.backend.equals(img.backend())) {
            mismatch.add("the snapshot was taken with backend '" + img.backend() + "', the builder asks for '"
                    + b.backend + "'");
        }
        if (!mismatch.isEmpty()) {
            throw new SnapshotMismatchException("cannot restore: " + String.join("; ", mismatch));
        }
    }

    /** Adds to {@code problems} what is wrong with the devices, virtio devices and network asked for. */
    static void validate(MachineSpec spec, List<String> problems) {
        validateDevices(spec.devices(), problems);
        validateVirtio(spec.disks(), spec.virtioRng(), spec.vsockCid(), spec.network() != null, problems);
        if (spec.network() != null) {
            validateNetwork(spec.network(), problems);
        }
    }

    /** Built-in devices claim these; user devices must not overlap them. */
    private static void validateDevices(List<Device> userDevices, List<String> problems) {
        List<Device> all = new ArrayList<>(new X86Platform().builtInDevices(DETACHED, exit -> {}).devices());
        all.addAll(userDevices);
        DeviceBus.validate(all, problems);
    }

    /** Adds to {@code problems} what is wrong with {@code network}: ports out of range or forwarded twice. */
    private static void validateNetwork(Network network, List<String> problems) {
        switch (network) {
            case Network.UserMode u -> {
                Set<Integer> hostPorts = new HashSet<>();
                Set<Integer> guestPorts = new HashSet<>();
                for (Network.PortForward f : u.forwards()) {
                    if (f.hostPort() < 0 || f.hostPort() > 65535) {
                        problems.add("a forwarded host port must be 0 (pick a free one) or 1-65535, was " + f.hostPort());
                    } else if (f.hostPort() != 0 && !hostPorts.add(f.hostPort())) {
                        problems.add("host port " + f.hostPort() + " is forwarded twice");
                    }
                    if (f.guestPort() < 1 || f.guestPort() > 65535) {
                        problems.add("a forwarded guest port must be 1-65535, was " + f.guestPort());
                    } else if (!guestPorts.add(f.guestPort())) {
                        problems.add("guest port " + f.guestPort() + " is forwarded twice");
                    }
                }
            }
            case Network.Tap t -> {
                int length = t.name().getBytes(StandardCharsets.UTF_8).length;
                if (length < 1 || length > 15 || t.name().contains("/")
                        || t.name().chars().anyMatch(Character::isWhitespace)) {
                    problems.add("a TAP interface name has 1-15 bytes, no '/' and no spaces, was '" + t.name() + "'");
                }
                if (Libc.OS != Libc.Os.LINUX) {
                    problems.add("TAP networking (Network.tap) is Linux-only; use Network.userMode()");
                }
            }
        }
    }

    /** Checks the virtio devices asked for: disk files usable, not more devices than slots. */
    private static void validateVirtio(List<Disk> disks, boolean rng, @Nullable Long vsockCid, boolean network,
            List<String> problems) {
        int count = disks.size() + (rng ? 1 : 0) + (vsockCid != null ? 1 : 0) + (network ? 1 : 0);
        if (vsockCid != null && (vsockCid < 3 || vsockCid >= 0xffff_ffffL)) {
            problems.add("a vsock guest CID must be between 3 and 4294967294 (0-2 are reserved), was " + vsockCid);
        }
        if (count > VirtioSlots.MAX_DEVICES) {
            problems.add(count + " virtio devices were asked for; at most " + VirtioSlots.MAX_DEVICES + " fit");
        }
        for (Disk d : disks) {
            Path p = d.image();
            if (!Files.isRegularFile(p)) {
                problems.add("disk image " + p + " does not exist or is not a regular file");
            } else if (!Files.isReadable(p)) {
                problems.add("disk image " + p + " is not readable");
            } else if (!d.readOnly() && !Files.isWritable(p)) {
                problems.add("disk image " + p + " is not writable; attach it with Disk.asReadOnly() or fix its"
                        + " permissions");
            }
        }
    }

    /** Creates the VM {@code spec} describes (validated); on failure releases the image it restores. */
    static VirtualMachine create(MachineSpec spec) {
        VmImage image = spec.image();
        try {
            return create(spec, image);
        } catch (ImageTaken e) {
            // Another VM owns the image (and its working disks): releasing it would pull them from under it.
            throw e.refusal;
        } catch (RuntimeException e) {
            if (image != null) {
                releaseQuietly(image, e);
            }
            throw e;
        }
    }

    /** The image refused its memory: it was handed to another VM already. */
    private static final class ImageTaken extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final RuntimeException refusal;

        ImageTaken(RuntimeException refusal) {
            super(refusal.getMessage(), refusal, false, false);
            this.refusal = refusal;
        }
    }

    private static GuestMemory takeMemory(VmImage image) {
        try {
            return image.takeMemory();
        } catch (RuntimeException e) {
            throw new ImageTaken(e);
        }
    }

    private static void releaseQuietly(VmImage image, RuntimeException failure) {
        try {
            image.release();
        } catch (RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    private static Machine create(MachineSpec s, @Nullable VmImage image) {
        HypervisorProvider provider = Backends.select(s.backend());
        Platform platform = Platform.of(provider.architecture());
        Guest guest = s.guest();
        if (guest != null) {
            platform.checkGuest(guest, provider.name());
        }
        List<Disk> disks = s.disks();
        VirtioNet net = s.network() != null ? new VirtioNet(DEFAULT_MAC, startNetwork(s.network())) : null;
        VirtioVsock vsock = s.vsockCid() != null ? new VirtioVsock(s.vsockCid()) : null;
        List<VirtioMmio> virtio;
        try {
            virtio = platform.virtioDevices(disks, s.virtioRng(), vsock, net);
        } catch (RuntimeException e) {
            if (net != null) {
                net.close();
            }
            throw e;
        }
        GuestMemory memory;
        try {
            memory = image != null ? takeMemory(image) : platform.allocateMemory(s.memoryBytes());
        } catch (RuntimeException e) {
            virtio.forEach(VirtioMmio::close);
            throw e;
        }
        HypervisorVm hvVm = null;
        try {
            if (image != null && memory.size() != image.memoryBytes()) {
                throw new SnapshotMismatchException("the image's memory maps " + memory.size()
                        + " bytes but it records " + image.memoryBytes());
            }
            // A restored vCPU's registers come from its state.
            BootState boot = image != null ? new BootState.Restored()
                    : platform.load(Objects.requireNonNull(guest), memory, s.vcpus(), virtio);
            hvVm = provider.createVm(new VmConfig(memory, s.vcpus(), s.trackDirtyPages()));
            Console console = new Console(s.consoleOutputs(), s.consoleListeners());
            DeviceBus bus = new DeviceBus();
            VmLifecycle lifecycle = new VmLifecycle(hvVm, boot, bus, s.vcpus(),
                    image != null ? image.vcpuStates() : null, image != null ? image.vmState() : null, console::end);
            Platform.BuiltIns builtIn = platform.builtInDevices(serialIo(console), lifecycle::finish);
            for (Device d : builtIn.devices()) {
                bus.add(d);
            }
            for (Device d : s.devices()) {
                bus.add(d);
            }
            for (Device d : virtio) {
                bus.add(d);
            }
            NetworkAttachment network = net == null ? null
                    : new NetworkAttachment(macString(DEFAULT_MAC), net.backend().describe(),
                            net.backend().forwards());
            DeviceContext ctx = deviceContext(memory, hvVm, lifecycle, false);
            // The virtio transport pulses each new interrupt; where its pins are edge-triggered
            // it may use the backend's edge line (KVM: an irqfd).
            DeviceContext virtioCtx = platform.virtioEdgeTriggered() ? deviceContext(memory, hvVm, lifecycle, true) : ctx;
            // In bus order.
            for (Device d : builtIn.devices()) {
                d.attach(ctx);
            }
            for (Device d : s.devices()) {
                d.attach(ctx);
            }
            for (Device d : virtio) {
                d.attach(virtioCtx);
            }
            if (image != null) {
                restoreDevices(bus, image.deviceStates());
                for (int r = 0; r < memory.regions().size(); r++) {
                    memory.drainHostDirty(r); // the restore's own writes are not guest changes
                }
            }
            return new Machine(provider.name(), memory, hvVm, bus, console, builtIn.bootTimer(), lifecycle,
                    s.trackDirtyPages(), disks, vsock, network, image);
        } catch (RuntimeException e) {
            if (hvVm != null) {
                hvVm.close();
            }
            memory.close();
            virtio.forEach(VirtioMmio::close);
            throw e;
        }
    }

    static String macString(byte[] mac) {
        StringBuilder sb = new StringBuilder();
        for (byte b : mac) {
            sb.append(sb.isEmpty() ? "" : ":").append(String.format("%02x", b & 0xff));
        }
        return sb.toString();
    }

    private static FrameBackend startNetwork(Network network) {
        return switch (network) {
            case Network.UserMode u -> PasstBackend.start(u.forwards());
            case Network.Tap t -> TapBackend.open(t.name());
        };
    }

    private static void restoreDevices(DeviceBus bus, Map<String, byte[]> states) {
        Set<String> unused = new HashSet<>(states.keySet());
        for (Device d : bus.devices()) {
            byte[] st = states.get(d.name());
            unused.remove(d.name());
            if (st == null) {
                if (d.saveState().length > 0) {
                    throw new SnapshotMismatchException("the snapshot has no state for device '" + d.name() + "'");
                }
                continue;
            }
            try {
                d.restoreState(st);
            } catch (RuntimeException e) {
                throw new SnapshotMismatchException("device '" + d.name() + "' rejected its snapshot state: "
                        + e.getMessage(), e);
            }
        }
        if (!unused.isEmpty()) {
            throw new SnapshotMismatchException("the snapshot has state for devices this VM lacks: " + unused);
        }
    }

    /** The console as the platform's serial port sees it. */
    private static SerialIo serialIo(Console console) {
        return new SerialIo() {
            @Override
            public void emit(byte[] bytes, int off, int len) {
                console.emit(bytes, off, len);
            }

            @Override
            public int pollInput() {
                return console.pollInput();
            }

            @Override
            public void onInput(Runnable callback) {
                console.onInput(callback);
            }
        };
    }

    /**
     * @param edge whether the device only pulses edge-triggered pins, so that the backend's
     *     {@link HypervisorVm#edgeInterruptLine} (KVM: an irqfd) may serve it
     */
    private static DeviceContext deviceContext(GuestMemory memory, HypervisorVm hvVm, VmLifecycle lifecycle,
            boolean edge) {
        return new DeviceContext() {
            @Override
            public GuestMemory memory() {
                return memory;
            }

            @Override
            public InterruptLine interruptLine(int irq) {
                InterruptLine fallback = high -> hvVm.setIrqLine(irq, high);
                if (!edge) {
                    return fallback;
                }
                InterruptLine line = hvVm.edgeInterruptLine(irq).orElse(fallback);
                LOG.debug("interrupt line {}: {}", irq, line == fallback ? "setIrqLine" : line);
                return line;
            }

            @Override
            public long nanosSinceStart() {
                return lifecycle.nanosSinceStart();
            }
        };
    }
}
