package dev.ignition.kvm.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.ignition.internal.posix.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Kicking a vCPU thread out of {@code KVM_RUN} without a Java signal handler (the JVM owns signal
 * handling): the vCPU thread blocks {@link #KICK_SIGNAL}; {@code KVM_SET_SIGNAL_MASK} unblocks it
 * only while the guest runs, so a {@code tgkill} makes {@code KVM_RUN} return {@code EINTR} and the
 * signal stays pending until {@link #drainKick()} accepts it. It is never delivered to a handler.
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
    /** glibc x86_64 {@code struct sigaction}: handler, 128-byte mask, flags (+pad), restorer. */
    private static final long SIGACTION_SIZE = 152;
    private static final long SA_FLAGS_OFFSET = 136;
    private static final int SA_RESTART = 0x1000_0000;

    static {
        installHarmlessHandler();
    }

    private ThreadSignals() {}

    /**
     * Gives the kick signal a handler that does nothing harmful (libc's {@code getpid}: async-signal
     * safe, ignores its argument), so a kick that ever reaches a thread without the signal blocked
     * cannot terminate the process, as the default action would. vCPU threads keep it blocked, so
     * for them the handler never runs: the signal only interrupts {@code KVM_RUN} and is accepted
     * by {@link #drainKick()}. Best effort: without it kicks work the same.
     */
    private static void installHarmlessHandler() {
        var getpid = java.lang.foreign.Linker.nativeLinker().defaultLookup().find("getpid");
        if (SIGACTION == null || getpid.isEmpty()) {
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment act = a.allocate(SIGACTION_SIZE, 8);
            act.set(ValueLayout.ADDRESS, 0, getpid.get());
            act.set(JAVA_INT, SA_FLAGS_OFFSET, SA_RESTART);
            MemorySegment st = Libc.captureState();
            int rc = (int) SIGACTION.invokeExact(st, KICK_SIGNAL, act, MemorySegment.NULL);
            if (rc != 0) {
                org.slf4j.LoggerFactory.getLogger(ThreadSignals.class).warn(
                        "could not install a handler for the vCPU kick signal {}: errno {}", KICK_SIGNAL, Libc.lastErrno(st));
            }
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Sends the kick signal to any thread of this process, blocked or not (for tests). */
    static void signalThread(int tid) {
        kick(tid);
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
