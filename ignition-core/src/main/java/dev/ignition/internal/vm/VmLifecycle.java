package dev.ignition.internal.vm;

import dev.ignition.IgnitionException;
import dev.ignition.IllegalVmStateException;
import dev.ignition.VmExit;
import dev.ignition.VmState;
import dev.ignition.device.Device;
import dev.ignition.internal.device.DeviceBus;
import dev.ignition.internal.device.SnapshotParticipant;
import dev.ignition.spi.BootState;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.Vcpu;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A VM's run state and its vCPU threads: start (or a start prepared ahead), pause, resume, the
 * exit, and stopping the threads when the VM closes. One lock guards the state; vCPU loops park
 * on it while the VM is paused and run tasks queued for them meanwhile (that is how vCPU state is
 * captured on the owning thread).
 */
public final class VmLifecycle implements VcpuLoop.Host {
    private static final Logger LOG = LoggerFactory.getLogger(VmLifecycle.class);
    private static final Duration THREAD_JOIN_TIMEOUT = Duration.ofSeconds(10);
    /** How long start() waits for one vCPU to be created or restored before giving up. */
    private static final Duration VCPU_SETUP_TIMEOUT = Duration.ofMinutes(2);

    private final HypervisorVm hvVm;
    private final BootState boot;
    private final DeviceBus bus;
    private final int vcpuCount;
    private final Consumer<VmState> onEnd;
    private final List<VcpuLoop> loops = new ArrayList<>();
    private final CompletableFuture<VmExit> exit = new CompletableFuture<>();
    private final Object lock = new Object();
    private VmState state = VmState.CREATED;
    private boolean paused;
    /** The vCPUs exist and hold their state (prepareStart or start ran). */
    private boolean prepared;
    private int parked;
    private volatile long startNanos;
    /** Set when restoring: states to load before the first instruction runs. */
    private final @Nullable List<byte[]> vcpuStates;
    private final byte @Nullable [] vmState;

    /**
     * @param bus the VM's devices; its vCPUs dispatch their exits to it
     * @param vcpuStates when restoring, one captured state per vCPU; null to boot
     * @param vmState when restoring, the hypervisor's VM-wide state; null to boot
     * @param onEnd told when the VM exits ({@link VmState#EXITED}), e.g. to end the console
     */
    public VmLifecycle(HypervisorVm hvVm, BootState boot, DeviceBus bus, int vcpuCount,
            @Nullable List<byte[]> vcpuStates, byte @Nullable [] vmState, Consumer<VmState> onEnd) {
        this.hvVm = hvVm;
        this.boot = boot;
        this.bus = bus;
        this.vcpuCount = vcpuCount;
        this.vcpuStates = vcpuStates;
        this.vmState = vmState;
        this.onEnd = onEnd;
    }

    public int vcpuCount() {
        return vcpuCount;
    }

    /** Nanoseconds since {@link #start()} (a monotonic clock), for devices. */
    public long nanosSinceStart() {
        return System.nanoTime() - startNanos;
    }

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

    /**
     * Does everything {@link #start()} does except letting the guest run; see
     * {@link MachineInternals#prepareStart()}.
     */
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

    public VmState state() {
        synchronized (lock) {
            return state;
        }
    }

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

    public Optional<VmExit> exit() {
        return Optional.ofNullable(exit.getNow(null));
    }

    /**
     * The first half of closing the VM: ends it with {@link VmExit.Stopped} (unless it ended
     * already) and waits for every vCPU thread to stop, so that the devices, the hypervisor VM and
     * memory can be released after it; then call {@link #closed()}.
     *
     * @return false, having done nothing, if the VM is closed already
     */
    public boolean stop() {
        synchronized (lock) {
            if (state == VmState.CLOSED) {
                return false;
            }
        }
        finish(new VmExit.Stopped());
        loops.forEach(VcpuLoop::release); // prepared but never started: the threads wait at their gates
        for (VcpuLoop l : loops) {
            if (!l.join(THREAD_JOIN_TIMEOUT)) {
                LOG.error("vCPU thread {} did not stop within {}; leaking it", l.index(), THREAD_JOIN_TIMEOUT);
            }
        }
        return true;
    }

    /** Marks the VM closed, once everything it held was released. */
    public void closed() {
        synchronized (lock) {
            state = VmState.CLOSED;
            lock.notifyAll();
        }
    }

    /**
     * Captures every vCPU's state while the VM is paused: on this thread when the backend allows
     * it, else on each vCPU's own thread.
     */
    List<byte[]> captureVcpus() {
        List<byte[]> vcpus = new ArrayList<>();
        if (captureVcpusHere(vcpus)) {
            return vcpus;
        }
        List<CompletableFuture<byte[]>> futures = new ArrayList<>();
        synchronized (lock) {
            for (VcpuLoop l : loops) {
                futures.add(l.submit(Vcpu::captureState));
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
        return vcpus;
    }

    /**
     * Captures every vCPU on this thread when the backend allows it (the VM is paused, each vCPU
     * settled by its own thread as it parked); false, having done nothing, when it does not.
     */
    private boolean captureVcpusHere(List<byte[]> into) {
        List<Vcpu> vs = new ArrayList<>();
        for (VcpuLoop l : loops) {
            Vcpu v = l.vcpu();
            if (v == null || !v.capturableFromAnyThread()) {
                return false;
            }
            vs.add(v);
        }
        for (Vcpu v : vs) {
            try {
                into.add(v.captureState());
            } catch (RuntimeException e) {
                throw new IgnitionException("capturing vCPU state failed: " + e.getMessage(), e);
            }
        }
        return true;
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
        onEnd.accept(VmState.EXITED);
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
}
