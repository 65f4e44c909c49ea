package dev.ignition.snapshot;

import dev.ignition.VirtualMachine;
import dev.ignition.internal.vm.MachineInternals;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.UnaryOperator;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forks of one snapshot made ahead of time, so that taking one costs almost nothing.
 *
 * <p>A background thread keeps {@code size} VMs restored from the snapshot, built, and prepared
 * up to the guest's first instruction: memory mapped copy-on-write, devices restored, vCPU
 * threads and vCPUs created and their state restored. {@link #take()} hands one out and the
 * thread makes the next a few milliseconds later (so that it does not compete with the fork just
 * taken for its first instructions); the VM's {@code start()} then only lets its vCPUs go. When none is
 * ready, {@code take()} makes one on the caller's thread, so a pool is never slower than
 * {@link VmSnapshots#restore}.
 *
 * <pre>{@code
 * try (ForkPool forks = ForkPool.open(store, "base", 4, b -> b)) {
 *     try (VirtualMachine vm = forks.take()) {
 *         vm.start();                      // runs from where "base" was taken
 *     }
 * }
 * }</pre>
 *
 * <p>Each ready fork holds its memory mapping, its vCPU threads and its hypervisor VM until it is
 * taken or the pool closes; a taken VM belongs to the caller, who closes it. A ready fork's guest
 * clock was restored when it was prepared, so guest time includes the wait in the pool, as after
 * any pause. Thread-safe.
 */
public final class ForkPool implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ForkPool.class);
    private static final int MAX_SIZE = 64;
    /** After a background failure, how long the thread waits before it tries again. */
    private static final long RETRY_MILLIS = 1000;
    /**
     * How long the thread waits after a take before it makes the next fork. Making one is a few
     * milliseconds of CPU; on a small machine it would take the core the fork just taken needs for
     * its first instructions (seen on 2 cores: fork to first output 1.5 ms instead of 0.5).
     */
    private static final long YIELD_NANOS = 5_000_000;

    private final SnapshotStore store;
    private final String name;
    private final int size;
    private final UnaryOperator<VirtualMachine.Builder> configure;
    private final Deque<VirtualMachine> ready = new ArrayDeque<>();
    private final Thread worker;
    private boolean closed;
    private int making; // forks the worker is making now
    private long lastTake;
    private @Nullable RuntimeException lastFailure;

    private ForkPool(SnapshotStore store, String name, int size, UnaryOperator<VirtualMachine.Builder> configure) {
        this.store = store;
        this.name = name;
        this.size = size;
        this.configure = configure;
        this.lastTake = System.nanoTime() - YIELD_NANOS; // no take yet: start at once
        this.worker = Thread.ofPlatform().name("ignition-fork-pool-" + name).daemon(true).unstarted(this::work);
    }

    /**
     * A pool of {@code size} ready forks of snapshot {@code name}, each configured by
     * {@code configure} as for {@link VmSnapshots#restore}. The first forks are made in the
     * background from now on.
     *
     * @throws IllegalArgumentException if {@code size} is not between 1 and 64
     * @throws NoSuchSnapshotException if the store has no snapshot {@code name}
     */
    public static ForkPool open(SnapshotStore store, String name, int size,
            UnaryOperator<VirtualMachine.Builder> configure) {
        Objects.requireNonNull(store, "store");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(configure, "configure");
        if (size < 1 || size > MAX_SIZE) {
            throw new IllegalArgumentException("size must be between 1 and " + MAX_SIZE + ", was " + size);
        }
        store.inspect(name); // fails now, with the store's own exception, if there is no such snapshot
        ForkPool pool = new ForkPool(store, name, size, configure);
        pool.worker.start();
        return pool;
    }

    /**
     * A fork, built and prepared, not started: the caller starts and closes it. Takes a ready one
     * when there is one, else makes one now (and then any failure of that is thrown here).
     *
     * @throws IllegalStateException if the pool is closed
     */
    public VirtualMachine take() {
        VirtualMachine vm;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("cannot take a fork: the pool of '" + name + "' is closed");
            }
            vm = ready.pollFirst();
            lastTake = System.nanoTime();
            notifyAll(); // the worker makes the next, soon
        }
        return vm != null ? vm : make();
    }

    /** How many forks are ready now. */
    public synchronized int ready() {
        return ready.size();
    }

    /** The number of forks the pool keeps ready. */
    public int size() {
        return size;
    }

    /** The last failure of the background thread, if its latest attempt failed. */
    public synchronized Optional<RuntimeException> lastFailure() {
        return Optional.ofNullable(lastFailure);
    }

    /** Stops making forks and closes the ready ones; VMs already taken are the caller's. Idempotent. */
    @Override
    public void close() {
        List<VirtualMachine> toClose;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            notifyAll();
            while (making > 0) { // a fork in the making is closed by the worker when it sees closed
                try {
                    wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            toClose = new ArrayList<>(ready);
            ready.clear();
        }
        RuntimeException failure = null;
        for (VirtualMachine vm : toClose) {
            try {
                vm.close();
            } catch (RuntimeException e) {
                failure = failure == null ? e : failure;
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private VirtualMachine make() {
        VirtualMachine vm = VmSnapshots.restore(store, name, configure);
        try {
            ((MachineInternals) vm).prepareStart();
            return vm;
        } catch (RuntimeException | Error e) {
            vm.close();
            throw e;
        }
    }

    private void work() {
        while (true) {
            synchronized (this) {
                while (!closed && ready.size() >= size) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) {
                    return;
                }
                long wait = lastTake + YIELD_NANOS - System.nanoTime();
                if (wait > 0) {
                    try {
                        wait(Math.max(1, wait / 1_000_000));
                    } catch (InterruptedException e) {
                        return;
                    }
                    continue; // re-check: closed, or another take
                }
                making++;
            }
            VirtualMachine vm = null;
            RuntimeException failure = null;
            try {
                vm = make();
            } catch (RuntimeException e) {
                failure = e;
            }
            synchronized (this) {
                lastFailure = failure;
                if (vm != null && !closed) {
                    ready.addLast(vm);
                    vm = null;
                }
                if (vm == null) {
                    making--;
                    notifyAll();
                }
            }
            if (vm != null) {
                // The pool closed meanwhile. Still counted as in the making, so close() returns only
                // once this VM is closed too: a caller may check that nothing is left open.
                try {
                    vm.close();
                } finally {
                    synchronized (this) {
                        making--;
                        notifyAll();
                    }
                }
            }
            if (failure != null) {
                LOG.warn("fork pool of '{}': making a fork failed, retrying in {} ms: {}", name, RETRY_MILLIS,
                        failure.toString());
                synchronized (this) {
                    try {
                        wait(RETRY_MILLIS);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
        }
    }
}
