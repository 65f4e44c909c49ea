package dev.ignition;

import dev.ignition.device.Device;
import dev.ignition.device.DeviceContext;
import dev.ignition.device.InterruptLine;
import dev.ignition.guest.FreestandingGuest;
import dev.ignition.guest.Guest;
import dev.ignition.internal.device.BootTimer;
import dev.ignition.internal.device.DeviceBus;
import dev.ignition.internal.device.ExitDevice;
import dev.ignition.internal.device.ResetPort;
import dev.ignition.internal.device.SerialIo;
import dev.ignition.internal.device.Uart16550;
import dev.ignition.internal.vm.GuestRam;
import dev.ignition.internal.vm.VcpuLoop;
import dev.ignition.internal.x86.LongModeSetup;
import dev.ignition.internal.x86.X86Layout;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.Architecture;
import dev.ignition.spi.BootState;
import dev.ignition.spi.HypervisorProvider;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.VmConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The {@link VirtualMachine} implementation: owns memory, the backend VM, devices and vCPU threads. */
final class Machine implements VirtualMachine, VcpuLoop.Host {
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
    private int parked;
    private volatile long startNanos;

    private Machine(String backendName, GuestMemory memory, HypervisorVm hvVm, DeviceBus bus, Console console,
            BootTimer bootTimer, BootState boot, int vcpuCount) {
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
        HypervisorProvider provider = Backends.select(b.backend);
        Guest guest = java.util.Objects.requireNonNull(b.guest);
        if (provider.architecture() != Architecture.X86_64 && guest instanceof FreestandingGuest) {
            throw new InvalidVmSpecException(List.of("freestanding guests are x86_64 code, but backend '"
                    + provider.name() + "' runs " + provider.architecture() + " guests"));
        }
        GuestMemory memory = GuestRam.allocateX86(b.memoryBytes);
        HypervisorVm hvVm = null;
        try {
            BootState boot = load(guest, memory);
            hvVm = provider.createVm(new VmConfig(memory, b.vcpus, b.trackDirtyPages));
            Console console = new Console(b.consoleOutputs, b.consoleListeners);
            DeviceBus bus = new DeviceBus();
            Machine[] self = new Machine[1];
            for (Device d : builtInDevices(console,
                    code -> self[0].finish(new VmExit.GuestExit(code)),
                    () -> self[0].finish(new VmExit.Reset()))) {
                bus.add(d);
            }
            for (Device d : b.devices) {
                bus.add(d);
            }
            BootTimer timer = (BootTimer) bus.devices().stream().filter(d -> d instanceof BootTimer).findFirst().orElseThrow();
            Machine m = new Machine(provider.name(), memory, hvVm, bus, console, timer, boot, b.vcpus);
            self[0] = m;
            DeviceContext ctx = m.deviceContext();
            for (Device d : bus.devices()) {
                d.attach(ctx);
            }
            return m;
        } catch (RuntimeException e) {
            if (hvVm != null) {
                hvVm.close();
            }
            memory.close();
            throw e;
        }
    }

    private static BootState load(Guest guest, GuestMemory memory) {
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
                yield LongModeSetup.write(memory, g.entryAddress(), 0);
            }
        };
    }

    private DeviceContext deviceContext() {
        return new DeviceContext() {
            @Override
            public GuestMemory memory() {
                return memory;
            }

            @Override
            public InterruptLine interruptLine(int irq) {
                return high -> hvVm.setIrqLine(irq, high);
            }

            @Override
            public long nanosSinceStart() {
                return System.nanoTime() - startNanos;
            }
        };
    }

    @Override
    public void start() {
        synchronized (lock) {
            if (state != VmState.CREATED) {
                if (state == VmState.CLOSED) {
                    throw new IllegalVmStateException("start", state);
                }
                return;
            }
            startNanos = System.nanoTime();
            for (int i = 0; i < vcpuCount; i++) {
                loops.add(new VcpuLoop(i, hvVm, boot, bus, this));
            }
            state = VmState.RUNNING;
        }
        for (VcpuLoop l : loops) {
            l.start();
        }
        for (VcpuLoop l : loops) {
            l.awaitCreated();
        }
        Optional<VmExit> early = exit();
        if (early.isPresent() && early.get() instanceof VmExit.Failed f && loops.stream().anyMatch(VcpuLoop::failedToCreate)) {
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
            while (parked < liveLoops() && !exit.isDone()) {
                waitOnLock();
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
    public Optional<Duration> bootTime() {
        long n = bootTimer.bootNanos();
        return n < 0 ? Optional.empty() : Optional.of(Duration.ofNanos(n));
    }

    @Override
    public String backend() {
        return backendName;
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
        }
        if (failure != null) {
            throw new IgnitionException("a device failed to close", failure);
        }
    }

    // ---- VcpuLoop.Host ----

    @Override
    public void finish(VmExit why) {
        if (exit.complete(why)) {
            synchronized (lock) {
                if (state != VmState.CLOSED) {
                    state = VmState.EXITED;
                }
                lock.notifyAll();
            }
            loops.forEach(VcpuLoop::kick);
        }
    }

    @Override
    public boolean awaitRunnable() {
        synchronized (lock) {
            if (paused && !exit.isDone()) {
                parked++;
                lock.notifyAll();
                while (paused && !exit.isDone()) {
                    waitOnLock();
                }
                parked--;
            }
            return !exit.isDone();
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
