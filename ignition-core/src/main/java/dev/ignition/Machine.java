package dev.ignition;

import dev.ignition.device.Device;
import dev.ignition.device.DeviceContext;
import dev.ignition.device.Disk;
import dev.ignition.device.InterruptLine;
import dev.ignition.guest.FreestandingGuest;
import dev.ignition.guest.Guest;
import dev.ignition.guest.LinuxGuest;
import dev.ignition.internal.device.BootTimer;
import dev.ignition.internal.device.DeviceBus;
import dev.ignition.internal.device.ExitDevice;
import dev.ignition.internal.device.ResetPort;
import dev.ignition.internal.device.SerialIo;
import dev.ignition.internal.device.SnapshotParticipant;
import dev.ignition.internal.device.Uart16550;
import dev.ignition.internal.net.FrameBackend;
import dev.ignition.internal.net.PasstBackend;
import dev.ignition.internal.net.TapBackend;
import dev.ignition.internal.virtio.VirtioMmio;
import dev.ignition.internal.virtio.VirtioNet;
import dev.ignition.internal.virtio.VirtioSlots;
import dev.ignition.internal.vm.GuestRam;
import dev.ignition.internal.vm.MachineInternals;
import dev.ignition.internal.vm.VcpuLoop;
import dev.ignition.internal.x86.LongModeSetup;
import dev.ignition.internal.x86.X86Layout;
import dev.ignition.internal.x86.linux.LinuxLoader;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.Architecture;
import dev.ignition.spi.BootState;
import dev.ignition.spi.HypervisorProvider;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.VmConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The {@link VirtualMachine} implementation: owns memory, the backend VM, devices and vCPU threads. */
final class Machine implements VirtualMachine, VcpuLoop.Host, MachineInternals {
    private static final Logger LOG = LoggerFactory.getLogger(Machine.class);
    private static final Duration THREAD_JOIN_TIMEOUT = Duration.ofSeconds(10);

    private final String backendName;
    private final GuestMemory memory;
    private final HypervisorVm hvVm;
    private final DeviceBus bus;
    private final Console console;
    private final BootTimer bootTimer;
    private final BootState boot;
    private final int vcpuCount;
    private final List<VcpuLoop> loops = new ArrayList<>();
    private final CompletableFuture<VmExit> exit = new CompletableFuture<>();
    private final Object lock = new Object();
    private VmState state = VmState.CREATED;
    private boolean paused;
    /** The vCPUs exist and hold their state (prepareStart or start ran). */
    private boolean prepared;
    private int parked;
    private volatile long startNanos;
    private final boolean tracksDirty;
    /**
     * Per region, dirty bits drained by captures that were never published (null: none). The
     * next capture returns them too, so a failed snapshot never loses a page from later diffs.
     * Also the monitor for draining.
     */
    private final long[][] pendingDirty;
    /** Set when restoring: states to load before the first instruction runs. */
    private final @Nullable List<byte[]> vcpuStates;
    private final byte @Nullable [] vmState;
    /** The attached disks in slot order (the image's when it brings its own). */
    private final List<Disk> disks;
    /** Set once at creation when the VM has a network device. */
    private volatile @Nullable NetworkAttachment network;
    /** The image this VM was restored from; released when the VM closes. */
    private final @Nullable VmImage image;

    private Machine(String backendName, GuestMemory memory, HypervisorVm hvVm, DeviceBus bus, Console console,
            BootTimer bootTimer, BootState boot, int vcpuCount, boolean tracksDirty,
            @Nullable List<byte[]> vcpuStates, byte @Nullable [] vmState, List<Disk> disks, @Nullable VmImage image) {
        this.disks = List.copyOf(disks);
        this.image = image;
        this.tracksDirty = tracksDirty;
        this.pendingDirty = new long[memory.regions().size()][];
        this.vcpuStates = vcpuStates;
        this.vmState = vmState;
        this.backendName = backendName;
        this.memory = memory;
        this.hvVm = hvVm;
        this.bus = bus;
        this.console = console;
        this.bootTimer = bootTimer;
        this.boot = boot;
        this.vcpuCount = vcpuCount;
    }

    /** Built-in devices claim these; user devices must not overlap them. */
    static void validateDevices(List<Device> userDevices, List<String> problems) {
        List<Device> all = new ArrayList<>(builtInDevices(new Console(List.of(), List.of()), code -> {}, () -> {}));
        all.addAll(userDevices);
        DeviceBus.validate(all, problems);
    }

    private static List<Device> builtInDevices(Console console, java.util.function.IntConsumer onExit, Runnable onReset) {
        SerialIo io = new SerialIo() {
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
        return List.of(new Uart16550(Uart16550.COM1_PORT, Uart16550.COM1_IRQ, io),
                new BootTimer(X86Layout.BOOT_TIMER_ADDR), new ExitDevice(onExit), new ResetPort(onReset));
    }

    static VirtualMachine create(VirtualMachine.Builder b) {
        VmImage image = b.image;
        try {
            return create(b, image);
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

    private static VirtualMachine create(VirtualMachine.Builder b, @Nullable VmImage image) {
        HypervisorProvider provider = Backends.select(b.backend);
        Guest guest = b.guest;
        if (provider.architecture() != Architecture.X86_64 && guest instanceof FreestandingGuest) {
            throw new InvalidVmSpecException(List.of("freestanding guests are x86_64 code, but backend '"
                    + provider.name() + "' runs " + provider.architecture() + " guests"));
        }
        boolean arm64 = provider.architecture() == Architecture.ARM64;
        List<Disk> disks = b.effectiveDisks();
        VirtioNet net = b.network != null ? new VirtioNet(DEFAULT_MAC, startNetwork(b.network)) : null;
        List<VirtioMmio> virtio;
        try {
            virtio = VirtioSlots.create(arm64, disks, b.virtioRng, b.vsockCid, net);
        } catch (RuntimeException e) {
            if (net != null) {
                net.close();
            }
            throw e;
        }
        GuestMemory memory;
        try {
            memory = image != null ? takeMemory(image)
                    : arm64 ? GuestRam.allocateArm64(b.memoryBytes) : GuestRam.allocateX86(b.memoryBytes);
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
                    : arm64 ? loadArm64(java.util.Objects.requireNonNull(guest), memory, b.vcpus, virtio.size())
                    : load(java.util.Objects.requireNonNull(guest), memory, b.vcpus, virtio);
            hvVm = provider.createVm(new VmConfig(memory, b.vcpus, b.trackDirtyPages));
            Console console = new Console(b.consoleOutputs, b.consoleListeners);
            DeviceBus bus = new DeviceBus();
            Machine[] self = new Machine[1];
            List<Device> builtIn = arm64 ? arm64Devices(console)
                    : builtInDevices(console, code -> self[0].finish(new VmExit.GuestExit(code)),
                            () -> self[0].finish(new VmExit.Reset()));
            for (Device d : builtIn) {
                bus.add(d);
            }
            for (Device d : b.devices) {
                bus.add(d);
            }
            for (Device d : virtio) {
                bus.add(d);
            }
            BootTimer timer = bus.devices().stream().filter(d -> d instanceof BootTimer).map(d -> (BootTimer) d)
                    .findFirst().orElse(new BootTimer(-1));
            Machine m = new Machine(provider.name(), memory, hvVm, bus, console, timer, boot, b.vcpus,
                    b.trackDirtyPages, image != null ? image.vcpuStates() : null, image != null ? image.vmState() : null,
                    disks, image);
            self[0] = m;
            if (net != null) {
                m.network = new NetworkAttachment(macString(DEFAULT_MAC), net.backend().describe(),
                        net.backend() instanceof PasstBackend p ? p.forwards() : List.of());
            }
            DeviceContext ctx = m.deviceContext(false);
            // The virtio transport pulses each new interrupt; on x86 its IOAPIC pins are
            // edge-triggered, so it may use the backend's edge line (KVM: an irqfd). arm64's GIC
            // SPIs are level-triggered and keep setIrqLine.
            DeviceContext virtioCtx = arm64 ? ctx : m.deviceContext(true);
            for (Device d : bus.devices()) {
                d.attach(d instanceof VirtioMmio ? virtioCtx : ctx);
            }
            if (image != null) {
                restoreDevices(bus, image.deviceStates());
                for (int r = 0; r < memory.regions().size(); r++) {
                    memory.drainHostDirty(r); // the restore's own writes are not guest changes
                }
            }
            return m;
        } catch (RuntimeException e) {
            if (hvVm != null) {
                hvVm.close();
            }
            memory.close();
            virtio.forEach(VirtioMmio::close);
            throw e;
        }
    }

    /** The guest's MAC address: locally administered, QEMU's prefix; each VM has its own backend. */
    static final byte[] DEFAULT_MAC = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

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

    /** Adds to {@code problems} what is wrong with {@code network}: ports out of range or forwarded twice. */
    static void validateNetwork(Network network, List<String> problems) {
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
                int length = t.name().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
                if (length < 1 || length > 15 || t.name().contains("/")
                        || t.name().chars().anyMatch(Character::isWhitespace)) {
                    problems.add("a TAP interface name has 1-15 bytes, no '/' and no spaces, was '" + t.name() + "'");
                }
                if (dev.ignition.internal.posix.Libc.OS != dev.ignition.internal.posix.Libc.Os.LINUX) {
                    problems.add("TAP networking (Network.tap) is Linux-only; use Network.userMode()");
                }
            }
        }
    }

    /** Checks the virtio devices asked for: disk files usable, not more devices than slots. */
    static void validateVirtio(List<Disk> disks, boolean rng, @Nullable Long vsockCid, boolean network,
            List<String> problems) {
        int count = disks.size() + (rng ? 1 : 0) + (vsockCid != null ? 1 : 0) + (network ? 1 : 0);
        if (vsockCid != null && (vsockCid < 3 || vsockCid >= 0xffff_ffffL)) {
            problems.add("a vsock guest CID must be between 3 and 4294967294 (0-2 are reserved), was " + vsockCid);
        }
        if (count > VirtioSlots.MAX_DEVICES) {
            problems.add(count + " virtio devices were asked for; at most " + VirtioSlots.MAX_DEVICES + " fit");
        }
        for (Disk d : disks) {
            java.nio.file.Path p = d.image();
            if (!java.nio.file.Files.isRegularFile(p)) {
                problems.add("disk image " + p + " does not exist or is not a regular file");
            } else if (!java.nio.file.Files.isReadable(p)) {
                problems.add("disk image " + p + " is not readable");
            } else if (!d.readOnly() && !java.nio.file.Files.isWritable(p)) {
                problems.add("disk image " + p + " is not writable; attach it with Disk.asReadOnly() or fix its"
                        + " permissions");
            }
        }
    }

    /** Checks an image against what the builder asked for; fills in memory and vCPUs from it. */
    static void validateImage(VirtualMachine.Builder b, List<String> problems) {
        VmImage img = java.util.Objects.requireNonNull(b.image);
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
        b.memoryBytes = img.memoryBytes();
        b.vcpus = img.vcpuStates().size();
        b.backend = img.backend();
    }

    private static void restoreDevices(DeviceBus bus, java.util.Map<String, byte[]> states) {
        java.util.Set<String> unused = new java.util.HashSet<>(states.keySet());
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
                        + e.getMessage());
            }
        }
        if (!unused.isEmpty()) {
            throw new SnapshotMismatchException("the snapshot has state for devices this VM lacks: " + unused);
        }
    }

    /**
     * The arm64 platform's devices: a PL011 on the console (the device tree's stdout). There is no
     * boot timer or exit port on arm64; guests end the VM through PSCI SYSTEM_OFF.
     */
    private static List<Device> arm64Devices(Console console) {
        java.io.OutputStream out = new java.io.OutputStream() {
            @Override
            public void write(int b) {
                console.emit(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                console.emit(b, off, len);
            }
        };
        dev.ignition.internal.arm64.Pl011 uart = new dev.ignition.internal.arm64.Pl011(
                dev.ignition.internal.arm64.Arm64Layout.UART_BASE, dev.ignition.internal.arm64.Arm64Layout.UART_SPI, out);
        console.onInput(() -> {
            java.io.ByteArrayOutputStream in = new java.io.ByteArrayOutputStream();
            for (int c; (c = console.pollInput()) >= 0; ) {
                in.write(c);
            }
            uart.receive(in.toByteArray());
        });
        return List.of(uart);
    }

    /** Loads an arm64 Linux {@code Image} with a generated device tree, per the arm64 boot protocol. */
    private static BootState loadArm64(Guest guest, GuestMemory memory, int vcpus, int virtioDevices) {
        if (!(guest instanceof LinuxGuest g)) {
            throw new InvalidVmSpecException(List.of("arm64 VMs run Linux guests; " + guest + " is x86_64 code"));
        }
        byte[] kernel;
        try {
            kernel = java.nio.file.Files.readAllBytes(g.kernel());
        } catch (java.io.IOException e) {
            throw new IgnitionException("cannot read the kernel image " + g.kernel() + ": " + e.getMessage(), e);
        }
        // The x86 default names the 8250 console; on arm64 the console is the PL011.
        String cmdline = g.commandLine().replace("console=ttyS0", "console=ttyAMA0").replace("reboot=k", "").trim();
        return dev.ignition.internal.arm64.Arm64Boot.load(memory, kernel, g.initramfs(), cmdline, vcpus,
                dev.ignition.internal.arm64.Arm64DeviceTree.Gic.standard(vcpus, ARM64_VTIMER_PPI),
                java.util.stream.IntStream.range(0, virtioDevices).boxed().toList()).boot();
    }

    /** The virtual timer's PPI (INTID 27), which Hypervisor.framework's GIC requires. */
    private static final int ARM64_VTIMER_PPI = 11;

    private static BootState load(Guest guest, GuestMemory memory, int vcpus, List<VirtioMmio> virtio) {
        return switch (guest) {
            case FreestandingGuest g -> {
                if (g.loadAddress() < X86Layout.HIMEM_START || !memory.contains(g.loadAddress(), g.code().length)
                        || !memory.contains(0, g.requiredMemory())) {
                    throw new InvalidVmSpecException(List.of("guest '" + g.name() + "' needs "
                            + (g.requiredMemory() >> 10) + " KiB of RAM and its " + g.code().length
                            + " bytes of code at 0x" + Long.toHexString(g.loadAddress())
                            + " above 1 MiB; the VM has " + (memory.size() >> 10) + " KiB"));
                }
                memory.write(g.loadAddress(), g.code());
                yield LongModeSetup.write(memory, g.entryAddress(), 0, LongModeSetup.Privilege.USER);
            }
            case LinuxGuest g -> LinuxLoader.load(memory, vcpus, g.kernel(), g.initramfs(),
                    LinuxLoader.withVirtioDevices(g.commandLine(), virtio.stream()
                            .map(v -> new LinuxLoader.VirtioMmioDevice(v.baseAddress(), v.length(), v.irq())).toList()))
                    .boot();
        };
    }

    /**
     * @param edge whether the device only pulses edge-triggered pins, so that the backend's
     *     {@link HypervisorVm#edgeInterruptLine} (KVM: an irqfd) may serve it
     */
    private DeviceContext deviceContext(boolean edge) {
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
                return System.nanoTime() - startNanos;
            }
        };
    }

    @Override
    public void start() {
        boolean prepare;
        synchronized (lock) {
            if (state != VmState.CREATED) {
                if (state == VmState.CLOSED) {
                    throw new IllegalVmStateException("start", state);
                }
                return;
            }
            startNanos = System.nanoTime();
            prepare = !prepared;
            prepared = true;
            state = VmState.RUNNING;
        }
        if (prepare && vmState == null && vcpuStates == null) {
            bootVcpus();
            return;
        }
        if (prepare) {
            prepareVcpus();
        }
        loops.forEach(VcpuLoop::release);
    }

    /**
     * A fresh boot: nothing to restore, so no gate but the one that keeps the boot vCPU from
     * running before every other vCPU exists (its INIT/SIPI must find their LAPICs). A single
     * vCPU goes from its creation straight into the guest, without a round trip through this thread.
     */
    private void bootVcpus() {
        createVcpus(true);
        loops.forEach(VcpuLoop::release);
    }

    /**
     * Starts one thread per vCPU and waits until each has created its vCPU, rethrowing a failure.
     *
     * @param fresh a fresh boot: no restore gate, and a single vCPU may run as soon as it exists
     */
    private void createVcpus(boolean fresh) {
        synchronized (lock) {
            for (int i = 0; i < vcpuCount; i++) {
                loops.add(new VcpuLoop(i, hvVm, boot, bus, this, vcpuStates != null ? vcpuStates.get(i) : null));
            }
        }
        if (fresh) {
            loops.forEach(VcpuLoop::openRestoreGate);
            if (vcpuCount == 1) {
                loops.getFirst().release();
            }
        }
        for (VcpuLoop l : loops) {
            l.start();
        }
        for (VcpuLoop l : loops) {
            if (!l.awaitCreated(VCPU_SETUP_TIMEOUT)) {
                startTimedOut("creating vCPU " + l.index());
            }
        }
        failIfStartFailed();
    }

    @Override
    public void prepareStart() {
        synchronized (lock) {
            if (state != VmState.CREATED) {
                throw new IllegalVmStateException("prepare the start of", state);
            }
            if (prepared) {
                return;
            }
            prepared = true;
        }
        prepareVcpus();
    }

    /**
     * Everything start() does before the guest may run: the vCPU threads and their vCPUs, then the
     * VM-wide and each vCPU's restored state. The threads then wait at their run gate.
     */
    private void prepareVcpus() {
        createVcpus(false);
        if (vmState != null) {
            try {
                hvVm.restoreState(vmState);
            } catch (RuntimeException e) {
                finish(new VmExit.Failed("restoring the VM state failed: " + e.getMessage(), e));
                loops.forEach(VcpuLoop::release);
                throw e;
            }
        }
        loops.forEach(VcpuLoop::openRestoreGate);
        for (VcpuLoop l : loops) {
            if (!l.awaitRestored(VCPU_SETUP_TIMEOUT)) {
                startTimedOut("restoring vCPU " + l.index());
            }
        }
        failIfStartFailed();
        if (vmState != null) {
            // Now, with the irqchip and every LAPIC restored.
            for (Device d : bus.devices()) {
                if (d instanceof SnapshotParticipant p) {
                    p.afterRestore();
                }
            }
        }
    }

    /** How long start() waits for one vCPU to be created or restored before giving up. */
    private static final Duration VCPU_SETUP_TIMEOUT = Duration.ofMinutes(2);

    private void startTimedOut(String what) {
        IgnitionException e = new IgnitionException(what + " took longer than " + VCPU_SETUP_TIMEOUT
                + "; the VM was stopped");
        finish(new VmExit.Failed(e.getMessage(), e));
        loops.forEach(VcpuLoop::release);
        throw e;
    }

    /** Rethrows a vCPU creation or restore failure to the caller of start(). */
    private void failIfStartFailed() {
        Optional<VmExit> early = exit();
        if (early.isPresent() && early.get() instanceof VmExit.Failed f && loops.stream().anyMatch(VcpuLoop::failedToCreate)) {
            loops.forEach(VcpuLoop::release);
            if (f.cause() instanceof IgnitionException ie) {
                throw ie;
            }
            throw new IgnitionException("could not start the VM: " + f.reason(), f.cause());
        }
    }

    @Override
    public void pause() {
        synchronized (lock) {
            if (state == VmState.PAUSED || state == VmState.EXITED) {
                return;
            }
            if (state != VmState.RUNNING) {
                throw new IllegalVmStateException("pause", state);
            }
            paused = true;
            loops.forEach(VcpuLoop::kick);
            long deadline = System.nanoTime() + VCPU_SETUP_TIMEOUT.toNanos();
            try {
                while (parked < liveLoops() && !exit.isDone()) {
                    if (System.nanoTime() > deadline) {
                        throw new IgnitionException("the vCPUs did not stop within " + VCPU_SETUP_TIMEOUT
                                + " of the pause request; the VM keeps running");
                    }
                    waitOnLock();
                }
            } catch (RuntimeException e) {
                // Timed out or interrupted: the VM keeps running rather than stay half paused.
                paused = false;
                lock.notifyAll();
                throw e;
            }
            if (!exit.isDone()) {
                state = VmState.PAUSED;
            }
        }
    }

    @Override
    public void resume() {
        synchronized (lock) {
            if (state == VmState.RUNNING) {
                return;
            }
            if (state != VmState.PAUSED) {
                throw new IllegalVmStateException("resume", state);
            }
            paused = false;
            state = VmState.RUNNING;
            lock.notifyAll();
        }
    }

    @Override
    public VmState state() {
        synchronized (lock) {
            return state;
        }
    }

    @Override
    public Optional<VmExit> awaitExit(Duration timeout) {
        try {
            return Optional.of(exit.get(timeout.toNanos(), TimeUnit.NANOSECONDS));
        } catch (TimeoutException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IgnitionException("interrupted while waiting for the VM to exit", e);
        } catch (ExecutionException e) {
            throw new IgnitionException("VM exit future failed", e.getCause());
        }
    }

    @Override
    public Optional<VmExit> exit() {
        return Optional.ofNullable(exit.getNow(null));
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
    public Optional<dev.ignition.device.Vsock> vsock() {
        return bus.devices().stream().filter(d -> d instanceof VirtioMmio v && v.model() instanceof dev.ignition.device.Vsock)
                .map(d -> (dev.ignition.device.Vsock) ((VirtioMmio) d).model()).findFirst();
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

    /** Device and bus access for tests in this package. */
    DeviceBus bus() {
        return bus;
    }

    @Override
    public void close() {
        synchronized (lock) {
            if (state == VmState.CLOSED) {
                return;
            }
        }
        finish(new VmExit.Stopped());
        loops.forEach(VcpuLoop::release); // prepared but never started: the threads wait at their gates
        for (VcpuLoop l : loops) {
            if (!l.join(THREAD_JOIN_TIMEOUT)) {
                LOG.error("vCPU thread {} did not stop within {}; leaking it", l.index(), THREAD_JOIN_TIMEOUT);
            }
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
            synchronized (lock) {
                state = VmState.CLOSED;
                lock.notifyAll();
            }
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

    // ---- VcpuLoop.Host ----

    @Override
    public void finish(VmExit why) {
        synchronized (lock) {
            if (exit.isDone()) {
                return;
            }
            // State first, then the future: whoever awaitExit wakes must already see EXITED.
            if (state != VmState.CLOSED) {
                state = VmState.EXITED;
            }
            exit.complete(why);
            lock.notifyAll();
        }
        console.end(VmState.EXITED);
        loops.forEach(VcpuLoop::kick);
    }

    @Override
    public boolean awaitRunnable(VcpuLoop loop) {
        synchronized (lock) {
            if (paused && !exit.isDone()) {
                loop.settle();
                parked++;
                lock.notifyAll();
                while (paused && !exit.isDone()) {
                    loop.runTasks();
                    waitOnLock();
                }
                loop.runTasks();
                parked--;
            }
            return !exit.isDone();
        }
    }

    // ---- MachineInternals ----

    @Override
    public String backend() {
        return backendName;
    }

    @Override
    public int vcpuCount() {
        return vcpuCount;
    }

    @Override
    public boolean tracksDirtyPages() {
        return tracksDirty;
    }

    @Override
    public void resetDirtyTracking() {
        synchronized (pendingDirty) {
            for (int r = 0; r < memory.regions().size(); r++) {
                if (tracksDirty) {
                    hvVm.fetchDirtyPages(r);
                }
                memory.drainHostDirty(r);
                pendingDirty[r] = null;
            }
        }
    }

    @Override
    public void returnDirtyPages(long[][] dirty) {
        if (dirty.length != pendingDirty.length) {
            throw new IllegalArgumentException("dirty bitmaps for " + dirty.length + " regions; the VM has "
                    + pendingDirty.length);
        }
        synchronized (pendingDirty) {
            for (int r = 0; r < dirty.length; r++) {
                pendingDirty[r] = or(pendingDirty[r], dirty[r]);
            }
        }
    }

    /** {@code a | b} into {@code a} when it is long enough, else into a copy of {@code b}. */
    private static long @Nullable [] or(long @Nullable [] a, long @Nullable [] b) {
        if (a == null || b == null) {
            return a == null ? (b == null ? null : b.clone()) : a;
        }
        long[] out = a.length >= b.length ? a : java.util.Arrays.copyOf(a, b.length);
        for (int w = 0; w < b.length; w++) {
            out[w] |= b[w];
        }
        return out;
    }

    @Override
    public Captured capture() {
        pause();
        if (state() != VmState.PAUSED) {
            throw new IllegalVmStateException("snapshot", state());
        }
        List<byte[]> vcpus = new ArrayList<>();
        if (captureVcpusHere(vcpus)) {
            return captureRest(vcpus);
        }
        List<java.util.concurrent.CompletableFuture<byte[]>> futures = new ArrayList<>();
        synchronized (lock) {
            for (VcpuLoop l : loops) {
                futures.add(l.submit(dev.ignition.spi.Vcpu::captureState));
            }
            lock.notifyAll();
        }
        for (var f : futures) {
            try {
                vcpus.add(f.get());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IgnitionException("interrupted while capturing vCPU state", e);
            } catch (ExecutionException e) {
                throw new IgnitionException("capturing vCPU state failed: " + e.getCause().getMessage(), e.getCause());
            }
        }
        return captureRest(vcpus);
    }

    /**
     * Captures every vCPU on this thread when the backend allows it (the VM is paused, each vCPU
     * settled by its own thread as it parked); false, having done nothing, when it does not.
     */
    private boolean captureVcpusHere(List<byte[]> into) {
        List<dev.ignition.spi.Vcpu> vs = new ArrayList<>();
        for (VcpuLoop l : loops) {
            dev.ignition.spi.Vcpu v = l.vcpu();
            if (v == null || !v.capturableFromAnyThread()) {
                return false;
            }
            vs.add(v);
        }
        for (dev.ignition.spi.Vcpu v : vs) {
            try {
                into.add(v.captureState());
            } catch (RuntimeException e) {
                throw new IgnitionException("capturing vCPU state failed: " + e.getMessage(), e);
            }
        }
        return true;
    }

    /** The rest of a capture, after the vCPUs: devices, the hypervisor, disks, dirty pages. */
    private Captured captureRest(List<byte[]> vcpus) {
        // Devices before the hypervisor: a device could still raise an interrupt while saved.
        java.util.Map<String, byte[]> devices = new java.util.LinkedHashMap<>();
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
        flushDisks();
        long[][] dirty = null;
        if (tracksDirty) {
            dirty = drainDirty();
        }
        return new Captured(List.copyOf(vcpus), vm, devices, dirty, disks);
    }

    /**
     * The pages written since the last published capture: the hypervisor's log, the host's bitmap
     * and the bits of captures given back. Draining is destructive, so a failure part-way gives
     * back what was already drained.
     */
    private long[][] drainDirty() {
        int regions = memory.regions().size();
        long[][] dirty = new long[regions][];
        synchronized (pendingDirty) {
            try {
                for (int r = 0; r < regions; r++) {
                    long[] guest = hvVm.fetchDirtyPages(r);
                    dirty[r] = guest;
                    dirty[r] = or(or(guest, memory.drainHostDirty(r)), pendingDirty[r]);
                    pendingDirty[r] = null;
                }
            } catch (RuntimeException e) {
                for (int r = 0; r < regions; r++) {
                    pendingDirty[r] = or(pendingDirty[r], dirty[r]);
                }
                throw e;
            }
        }
        for (int r = 0; r < regions; r++) {
            // A region whose bitmap is shorter than its pages would hide dirty pages past its end.
            long words = (memory.pagesIn(memory.regions().get(r)) + 63) / 64;
            if (dirty[r].length < words) {
                dirty[r] = java.util.Arrays.copyOf(dirty[r], (int) words);
            }
        }
        return dirty;
    }

    /**
     * Makes every writable disk's file durable. Requests are served synchronously on vCPU
     * threads, so once the VM is paused no write is in flight; the fsync makes the image as the
     * guest left it safe to clone.
     */
    private void flushDisks() {
        for (Device d : bus.devices()) {
            if (d instanceof SnapshotParticipant p) {
                p.flushForSnapshot();
            }
        }
    }

    @Override
    public void vcpuStopped() {
        synchronized (lock) {
            lock.notifyAll();
        }
    }

    private int liveLoops() {
        int n = 0;
        for (VcpuLoop l : loops) {
            if (l.alive()) {
                n++;
            }
        }
        return n;
    }

    private void waitOnLock() {
        try {
            lock.wait(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IgnitionException("interrupted", e);
        }
    }

    @Override
    public String toString() {
        return "VirtualMachine[" + backendName + ", " + (memory.size() >> 20) + " MiB, " + vcpuCount + " vCPU, " + state() + "]";
    }

}
