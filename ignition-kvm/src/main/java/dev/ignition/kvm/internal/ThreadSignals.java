package dev.ignition.kvm.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.ignition.internal.posix.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Kicking a vCPU thread out of {@code KVM_RUN} without a Java signal handler (the JVM owns signal
 * handling): the vCPU thread blocks {@link #KICK_SIGNAL}; {@code KVM_SET_SIGNAL_MASK} unblocks it
 * only while the guest runs, so a {@code tgkill} makes {@code KVM_RUN} return {@code EINTR} and the
 * signal stays pending until {@link #drainKick()} accepts it. It is never delivered to a handler,
 * and its disposition is "ignore" in case it ever is ({@link #ignoreKick()}).
 */
final class ThreadSignals {
    /** SIGRTMIN + 6 with glibc's SIGRTMIN of 34: unused by HotSpot and glibc. */
    static final int KICK_SIGNAL = 40;
    private static final int SIG_BLOCK = 0;
    private static final long SIGSET_BYTES = 128;

    private static final MethodHandle GETTID = Libc.bindOptional("gettid", FunctionDescriptor.of(JAVA_INT), false);
    private static final MethodHandle TGKILL = Libc.bindOptional("tgkill",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), true);
    private static final MethodHandle PTHREAD_SIGMASK = Libc.bindOptional("pthread_sigmask",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), false);
    private static final MethodHandle SIGTIMEDWAIT = Libc.bindOptional("sigtimedwait",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS), true);

    private static final MethodHandle SIGNAL = Libc.bindOptional("signal",
            FunctionDescriptor.of(ADDRESS, JAVA_INT, ADDRESS), false);
    private static final MemorySegment SIG_IGN = MemorySegment.ofAddress(1);
    private static final MemorySegment SIG_ERR = MemorySegment.ofAddress(-1);

    static {
        ignoreKick();
    }

    private ThreadSignals() {}

    /**
     * Makes the kick signal's disposition "ignore", so that a kick that is ever delivered rather
     * than left pending is dropped instead of killing the process (its default action). Kicks
     * keep working: the kernel never drops a signal the target blocks, and inside KVM_RUN it
     * still counts as blocked (the thread's saved mask), so KVM_RUN returns EINTR as before.
     * Seen on this project's PVM hosts: the JVM died of SIGRTMIN+6 under many pause/resume cycles.
     */
    private static void ignoreKick() {
        try {
            MemorySegment old = (MemorySegment) SIGNAL.invokeExact(KICK_SIGNAL, SIG_IGN);
            if (old.address() == SIG_ERR.address()) {
                throw new IllegalStateException("signal(" + KICK_SIGNAL + ", SIG_IGN) failed");
            }
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** The calling thread's kernel thread id. */
    static int gettid() {
        try {
            return (int) GETTID.invokeExact();
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /**
     * Blocks the kick signal in the calling thread and returns the 8-byte kernel signal mask KVM
     * should use while the guest runs: the thread's mask without the kick signal.
     */
    static long blockKickAndGetRunMask() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment set = a.allocate(SIGSET_BYTES);
            MemorySegment old = a.allocate(SIGSET_BYTES);
            set.set(JAVA_LONG, 0, bit(KICK_SIGNAL));
            int rc = (int) PTHREAD_SIGMASK.invokeExact(SIG_BLOCK, set, old);
            if (rc != 0) {
                throw Libc.error("pthread_sigmask(SIG_BLOCK)", rc);
            }
            return old.get(JAVA_LONG, 0) & ~bit(KICK_SIGNAL);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Sends the kick signal to thread {@code tid} of this process. */
    static void kick(int tid) {
        try {
            MemorySegment st = Libc.captureState();
            int rc = (int) TGKILL.invokeExact(st, Libc.getpid(), tid, KICK_SIGNAL);
            if (rc < 0 && Libc.lastErrno(st) != 3 /* ESRCH: the thread is gone */) {
                throw Libc.error("tgkill(" + tid + ", " + KICK_SIGNAL + ")", Libc.lastErrno(st));
            }
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Accepts a pending kick signal, if any, without waiting. Call on the vCPU thread. */
    static void drainKick() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment set = a.allocate(SIGSET_BYTES);
            set.set(JAVA_LONG, 0, bit(KICK_SIGNAL));
            MemorySegment zero = a.allocate(16); // struct timespec {0, 0}
            MemorySegment st = Libc.captureState();
            int rc = (int) SIGTIMEDWAIT.invokeExact(st, set, MemorySegment.NULL, zero);
            if (rc < 0 && Libc.lastErrno(st) != Libc.EAGAIN && Libc.lastErrno(st) != Libc.EINTR) {
                throw Libc.error("sigtimedwait", Libc.lastErrno(st));
            }
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    private static long bit(int signal) {
        return 1L << (signal - 1);
    }
}
