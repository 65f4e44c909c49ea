package dev.ignition.kvm.internal;

import dev.ignition.internal.posix.Errno;
import dev.ignition.internal.posix.Libc;
import dev.ignition.internal.x86.X86Layout;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * VM shells made ahead of time, and VMs torn down behind the caller's back.
 *
 * <p>A shell is what every Ignition KVM VM starts from, before its memory and vCPUs: a VM fd with
 * the TSS address, the in-kernel irqchip and the PIT. Making one costs several ioctls; tearing a VM
 * down costs far more where the kernel waits for RCU grace periods as it frees the irqchip and the
 * PIT (15–20 ms per VM on KVM's PVM flavour, against 0.2 ms for a VM without them). So a daemon
 * thread keeps {@link #POOL_PROPERTY} shells ready and up to four others close retired VM fds, and
 * neither cost falls on {@code build()}, a fork or {@code close()}.
 *
 * <p>A retired VM has no vCPU left and its irqfds are released; only the kernel's own teardown of
 * the VM object is deferred. {@link #awaitIdle} waits for it (tests that count descriptors).
 * With the pool size set to 0, shells are made and closed on the caller's thread, as before.
 */
final class KvmShells {
    private static final Logger LOG = LoggerFactory.getLogger(KvmShells.class);
    /** System property: how many shells to keep ready (default 2; 0 = no pool, synchronous teardown). */
    static final String POOL_PROPERTY = "ignition.kvm.shellPool";
    private static final int DEFAULT_POOL = 2;
    private static final int MAX_POOL = 64;
    private static final int CREATE_VM_ATTEMPTS = 5;
    private static final int CLOSERS = 4;

    /** A VM fd made ready up to its memory and vCPUs, and whether it can take irqfds. */
    record Shell(int vmFd, boolean irqfdCapable) {}

    private final int kvmFd;
    private final int target;
    private final Deque<Shell> ready = new ArrayDeque<>();
    /** Retired VM fds not closed yet. */
    private int closing;
    private boolean making;
    private Thread maker;
    /**
     * Closes retired VM fds. Several at once: a teardown mostly waits (RCU grace periods), and
     * one thread closing them in turn fell behind VMs closed back to back.
     */
    private ThreadPoolExecutor closer;

    KvmShells(int kvmFd, int target) {
        this.kvmFd = kvmFd;
        this.target = target;
    }

    /** The pool size from {@link #POOL_PROPERTY}: an integer from 0 to 64, else the default. */
    static int poolSize(@Nullable String property) {
        if (property == null) {
            return DEFAULT_POOL;
        }
        try {
            int n = Integer.parseInt(property.trim());
            if (n >= 0 && n <= MAX_POOL) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // fall through to the warning
        }
        LOG.warn("-D{}={} is not a number from 0 to {}; using {}", POOL_PROPERTY, property, MAX_POOL, DEFAULT_POOL);
        return DEFAULT_POOL;
    }

    /** A ready shell, made now if none is waiting. The caller owns its fd. */
    Shell take() {
        Shell s;
        synchronized (this) {
            s = ready.pollFirst();
            startMaker();
            notifyAll();
        }
        return s != null ? s : make(kvmFd);
    }

    /** Closes {@code vmFd} (no vCPU of it may run any more) now, or soon on a closer thread. */
    void retire(int vmFd) {
        if (target == 0) {
            Libc.close(vmFd);
            return;
        }
        ThreadPoolExecutor c;
        synchronized (this) {
            closing++;
            if (closer == null) {
                closer = new ThreadPoolExecutor(CLOSERS, CLOSERS, 5, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                        Thread.ofPlatform().name("ignition-kvm-close-", 0).daemon(true).factory());
                closer.allowCoreThreadTimeOut(true);
            }
            c = closer;
        }
        c.execute(() -> {
            try {
                Libc.close(vmFd);
            } catch (RuntimeException e) {
                LOG.debug("closing retired KVM VM fd {} failed", vmFd, e);
            } finally {
                synchronized (this) {
                    closing--;
                    notifyAll();
                }
            }
        });
    }

    /** Waits until every retired VM is closed and the pool is full again; false on timeout. */
    boolean awaitIdle(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (this) {
            while (closing > 0 || making || (maker != null && ready.size() < target)) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                wait(Math.max(1, left / 1_000_000));
            }
            return true;
        }
    }

    /** How many shells are ready now. */
    synchronized int readyCount() {
        return ready.size();
    }

    /** Starts the maker on first use; called with the monitor held. */
    private void startMaker() {
        if (target > 0 && maker == null) {
            maker = Thread.ofPlatform().name("ignition-kvm-shells").daemon(true).start(this::makeShells);
        }
    }

    private void makeShells() {
        while (true) {
            synchronized (this) {
                while (ready.size() >= target) {
                    notifyAll(); // full: wake awaitIdle
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                making = true;
            }
            Shell s = null;
            try {
                s = make(kvmFd);
            } catch (RuntimeException e) {
                // The next take() makes its shell itself and reports the error to its caller.
                LOG.debug("KVM shell pool: making a shell failed", e);
            }
            synchronized (this) {
                making = false;
                if (s != null) {
                    ready.addLast(s);
                }
                notifyAll();
                if (s == null) {
                    try {
                        wait(1000); // do not spin on a persistent failure
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
        }
    }

    /** Creates a VM fd with the TSS address, the irqchip and the PIT, and probes irqfds on it. */
    static Shell make(int kvmFd) {
        int vmFd = createVm(kvmFd);
        try {
            Libc.ioctl(vmFd, KvmIoctl.SET_TSS_ADDR.request, X86Layout.TSS_ADDR, "KVM_SET_TSS_ADDR");
            Libc.ioctl(vmFd, KvmIoctl.CREATE_IRQCHIP.request, 0, "KVM_CREATE_IRQCHIP");
            try (Arena a = Arena.ofConfined()) {
                MemorySegment pit = a.allocate(KvmStructs.KVM_PIT_CONFIG);
                KvmStructs.PIT_CONFIG_FLAGS.set(pit, 0L, KvmIoctl.PIT_SPEAKER_DUMMY);
                Libc.ioctl(vmFd, KvmIoctl.CREATE_PIT2.request, pit, "KVM_CREATE_PIT2");
            }
            // irqfds need the in-kernel irqchip, created above.
            return new Shell(vmFd, KvmIrqfds.probe(vmFd));
        } catch (RuntimeException e) {
            try {
                Libc.close(vmFd);
            } catch (RuntimeException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    private static int createVm(int kvmFd) {
        int rc = 0;
        for (int attempt = 0; attempt < CREATE_VM_ATTEMPTS; attempt++) {
            rc = Libc.ioctlRaw(kvmFd, KvmIoctl.CREATE_VM.request, 0);
            if (rc >= 0) {
                return rc;
            }
            if (-rc != Errno.EINTR) {
                break;
            }
        }
        throw Libc.error("ioctl(KVM_CREATE_VM)", -rc);
    }
}
