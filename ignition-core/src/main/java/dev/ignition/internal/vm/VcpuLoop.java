package dev.ignition.internal.vm;

import dev.ignition.VmExit;
import dev.ignition.internal.device.DeviceBus;
import dev.ignition.spi.BootState;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VcpuExit;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One vCPU's platform thread ({@code ignition-vcpu-N}, from {@link VcpuThreads}): creates the vCPU on itself (some
 * hypervisors bind vCPUs to their creating thread), then runs it, dispatching exits to the device
 * bus, until the VM finishes.
 */
public final class VcpuLoop implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(VcpuLoop.class);

    /** What the loop needs from its VM. */
    public interface Host {
        /** Ends the VM with {@code why} (the first call wins) and kicks every vCPU. */
        void finish(VmExit why);

        /**
         * Blocks while the VM is paused, running the loop's queued tasks meanwhile; false once
         * the VM must stop.
         */
        boolean awaitRunnable(VcpuLoop loop);

        /** Called when this loop's thread is about to end. */
        void vcpuStopped();
    }

    private final int index;
    private final HypervisorVm vm;
    private final BootState boot;
    private final DeviceBus bus;
    private final Host host;
    private volatile boolean started;
    private final CountDownLatch finished = new CountDownLatch(1);
    private final CountDownLatch created = new CountDownLatch(1);
    private final CountDownLatch restoreGate = new CountDownLatch(1);
    private final CountDownLatch restored = new CountDownLatch(1);
    private final CountDownLatch runGate = new CountDownLatch(1);
    private volatile @Nullable Vcpu vcpu;
    private volatile boolean failedToCreate;
    private volatile boolean kickPending;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final @Nullable byte[] restoreState;

    /**
     * @param restoreState a captured vCPU state to restore before the first run, or null to boot;
     *     restoring follows the order every backend accepts: all vCPUs created, then the VM-wide
     *     state, then each vCPU's state on its own thread, then the first run
     */
    public VcpuLoop(int index, HypervisorVm vm, BootState boot, DeviceBus bus, Host host, @Nullable byte[] restoreState) {
        this.restoreState = restoreState;
        this.index = index;
        this.vm = vm;
        this.boot = boot;
        this.bus = bus;
        this.host = host;
    }

    public int index() {
        return index;
    }

    public void start() {
        started = true;
        VcpuThreads.start("ignition-vcpu-" + index, () -> {
            try {
                run();
            } finally {
                VcpuThreads.idle(); // before joiners return: they look for ignition-vcpu-* threads
                finished.countDown();
            }
        });
    }

    /** Waits until the vCPU exists (or failed to be created); false if that took too long. */
    public boolean awaitCreated(Duration timeout) {
        try {
            return created.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Lets the created vCPU restore its state (after the VM-wide state was restored). */
    public void openRestoreGate() {
        restoreGate.countDown();
    }

    /** Waits until the vCPU restored its state (or had none to restore, or failed); false on timeout. */
    public boolean awaitRestored(Duration timeout) {
        try {
            return restored.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Lets the vCPU run the guest; also releases a loop waiting at an earlier gate. */
    public void release() {
        restoreGate.countDown();
        runGate.countDown();
    }

    public boolean failedToCreate() {
        return failedToCreate;
    }

    public boolean alive() {
        return started && finished.getCount() > 0;
    }

    /** Makes the vCPU leave the guest soon so the loop re-checks pause and stop requests. */
    public void kick() {
        // Flag first, then look: the thread publishes the vCPU, then reads the flag, so one of
        // the two always sees the other and no kick is lost.
        kickPending = true;
        Vcpu v = vcpu;
        if (v != null) {
            v.requestExit();
        }
    }

    public boolean join(Duration timeout) {
        if (!started) {
            return true;
        }
        try {
            return finished.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @Override
    public void run() {
        Vcpu v;
        try {
            v = vm.createVcpu(index, boot);
        } catch (RuntimeException | Error e) {
            failedToCreate = true;
            host.finish(new VmExit.Failed("creating vCPU " + index + " failed: " + e.getMessage(), e));
            created.countDown();
            restored.countDown();
            host.vcpuStopped();
            return;
        }
        vcpu = v;
        if (kickPending) {
            v.requestExit();
        }
        created.countDown();
        try {
            // Restores go: every vCPU created, VM-wide state restored, then each vCPU's own.
            restoreGate.await();
            if (restoreState != null && !failedToCreate) {
                try {
                    v.restoreState(restoreState);
                } catch (RuntimeException | Error e) {
                    failedToCreate = true;
                    host.finish(new VmExit.Failed("restoring vCPU " + index + " failed: " + e.getMessage(), e));
                }
            }
            restored.countDown();
            if (runGate.getCount() > 0) {
                v.warmUp(); // prepared ahead (a fork pool): pay the first run's one-off costs now
            }
            runGate.await();
            loop(v);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | Error e) {
            LOG.debug("vCPU {} failed", index, e);
            host.finish(new VmExit.Failed("vCPU " + index + ": " + e, e));
        } finally {
            restored.countDown();
            vcpu = null;
            runTasks(); // fail whatever is still queued
            try {
                v.close();
            } finally {
                host.vcpuStopped();
            }
        }
    }

    /**
     * Runs {@code task} on this vCPU's thread while the VM is paused (hypervisors may require
     * vCPU calls from the creating thread) and returns its result.
     */
    public <T> CompletableFuture<T> submit(Function<Vcpu, T> task) {
        CompletableFuture<T> f = new CompletableFuture<>();
        tasks.add(() -> {
            Vcpu v = vcpu;
            if (v == null) {
                f.completeExceptionally(new IllegalStateException("vCPU " + index + " is not running"));
                return;
            }
            try {
                f.complete(task.apply(v));
            } catch (RuntimeException e) {
                f.completeExceptionally(e);
            }
        });
        return f;
    }

    /** The vCPU, while this loop runs it (null before it exists and after it closed). */
    public @Nullable Vcpu vcpu() {
        return vcpu;
    }

    /** Called by the host on this loop's thread while parked: settles the vCPU, runs queued tasks. */
    public void runTasks() {
        Runnable t;
        while ((t = tasks.poll()) != null) {
            t.run();
        }
    }

    /** Called by the host on this loop's thread when it parks for a pause. */
    public void settle() {
        Vcpu v = vcpu;
        if (v != null) {
            v.settle();
        }
    }

    private void loop(Vcpu v) {
        // An instruction needing several exits (string I/O) is finished before pausing.
        while (v.midInstruction() || host.awaitRunnable(this)) {
            VcpuExit exit = v.run();
            switch (exit) {
                case VcpuExit.PortOut o -> bus.writePort(o.port(), o.size(), o.value());
                case VcpuExit.PortIn in -> in.complete(bus.readPort(in.port(), in.size()));
                case VcpuExit.MmioWrite w -> bus.writeMmio(w.address(), w.size(), w.value());
                case VcpuExit.MmioRead r -> r.complete(bus.readMmio(r.address(), r.size()));
                case VcpuExit.Interrupted i -> { }
                case VcpuExit.Halted h -> host.finish(new VmExit.Shutdown("vCPU " + index + " halted with no interrupt to wake it"));
                case VcpuExit.Shutdown s -> host.finish(new VmExit.Shutdown(s.reason()));
                case VcpuExit.Reset r -> host.finish(new VmExit.Reset());
                case VcpuExit.Failed f -> host.finish(new VmExit.Failed("vCPU " + index + ": " + f.reason(), null));
            }
        }
    }
}
