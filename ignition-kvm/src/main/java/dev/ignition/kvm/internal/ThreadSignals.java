package dev.ignition.kvm.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
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
 * signal stays pending until {@link #drainKick()} accepts it.
 *
 * <p>Its disposition must still not be the default (terminate the process): KVM's PVM flavour was
 * seen to deliver a kick that arrived while the guest ran, killing the JVM with "Real-time signal
 * 6". So a handler that only returns is installed once, unless someone else installed one: a
 * single {@code ret} instruction on a page of its own, since a Java upcall cannot safely run in a
 * signal handler. A delivered kick then still ends {@code KVM_RUN} with {@code EINTR}, and nothing
 * else happens.
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

    private static final MethodHandle SIGACTION = Libc.bindOptional("sigaction",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS), true);
    private static final MethodHandle MPROTECT = Libc.bindOptional("mprotect",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), true);
    /** glibc's x86_64 {@code struct sigaction}: handler, 128-byte mask, flags, restorer. */
    private static final long SIGACTION_BYTES = 152;
    private static final byte RET = (byte) 0xC3;

    static {
        installReturningHandler();
    }

    private ThreadSignals() {}

    /** Installs the returning handler for the kick signal where its disposition is still the default. */
    private static void installReturningHandler() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment current = a.allocate(SIGACTION_BYTES, 8);
            sigaction(MemorySegment.NULL, current);
            if (current.get(JAVA_LONG, 0) != 0) { // not SIG_DFL: someone chose a disposition already
                return;
            }
            long page = Libc.pageSize();
            MemorySegment code = Libc.mmapAnonymous(page); // kept for the life of the process
            code.set(JAVA_BYTE, 0, RET);
            MemorySegment st = Libc.captureState();
            int rc = (int) MPROTECT.invokeExact(st, code, page, Libc.PROT_READ | Libc.PROT_EXEC);
            if (rc < 0) {
                throw Libc.error("mprotect(PROT_READ|PROT_EXEC)", Libc.lastErrno(st));
            }
            MemorySegment action = a.allocate(SIGACTION_BYTES, 8); // zeroed: empty mask, no flags
            action.set(ADDRESS, 0, code);
            sigaction(action, MemorySegment.NULL);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    private static void sigaction(MemorySegment action, MemorySegment old) throws Throwable {
        MemorySegment st = Libc.captureState();
        int rc = (int) SIGACTION.invokeExact(st, KICK_SIGNAL, action, old);
        if (rc < 0) {
            throw Libc.error("sigaction(" + KICK_SIGNAL + ")", Libc.lastErrno(st));
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
