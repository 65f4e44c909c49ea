package dev.ignition.internal.posix;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * A Linux {@code eventfd(2)}: a 64-bit counter behind a file descriptor, which the kernel (KVM's
 * irqfd and ioeventfd) can consume or signal. Opened close-on-exec and non-blocking.
 *
 * <p>Thread safety: {@link #signal} and {@link #tryRead} may be called from any thread; the caller
 * must not call them after (or while) {@link #close} runs, since the descriptor number may then be
 * reused.
 */
public final class EventFd implements AutoCloseable {
    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EFD_NONBLOCK = 0x800;

    private static final MethodHandle EVENTFD = Libc.OS == Libc.Os.LINUX
            ? Libc.bindOptional("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), true) : null;
    private static final MethodHandle WRITE = Libc.bindOptional("write",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), true);
    private static final MethodHandle READ = Libc.bindOptional("read",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), true);

    private static final ThreadLocal<MemorySegment> BUFFER =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(JAVA_LONG));

    private final int fd;
    private boolean closed;

    private EventFd(int fd) {
        this.fd = fd;
    }

    /** True on Linux, where {@code eventfd(2)} exists. */
    public static boolean supported() {
        return EVENTFD != null && WRITE != null && READ != null;
    }

    /** A new eventfd with counter 0. */
    public static EventFd open() {
        if (!supported()) {
            throw new UnsupportedOperationException("eventfd(2) is Linux-only");
        }
        try {
            MemorySegment st = Libc.captureState();
            int fd = (int) EVENTFD.invokeExact(st, 0, EFD_CLOEXEC | EFD_NONBLOCK);
            if (fd < 0) {
                throw Libc.error("eventfd", Libc.lastErrno(st));
            }
            return new EventFd(fd);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    public int fd() {
        return fd;
    }

    /**
     * Adds 1 to the counter (one {@code write(2)} of 8 bytes), waking whoever waits on it. A counter
     * already at its maximum ({@code EAGAIN}) counts as signalled: the reader has not caught up yet.
     */
    public void signal() {
        try {
            MemorySegment buf = BUFFER.get();
            buf.set(JAVA_LONG, 0, 1L);
            MemorySegment st = Libc.captureState();
            long n = (long) WRITE.invokeExact(st, fd, buf, 8L);
            if (n < 0) {
                int errno = Libc.lastErrno(st);
                if (errno != Errno.EAGAIN) {
                    throw Libc.error("write(eventfd " + fd + ")", errno);
                }
            }
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Reads and resets the counter; returns 0 if it was 0 (nothing signalled since the last read). */
    public long tryRead() {
        try {
            MemorySegment buf = BUFFER.get();
            MemorySegment st = Libc.captureState();
            long n = (long) READ.invokeExact(st, fd, buf, 8L);
            if (n < 0) {
                int errno = Libc.lastErrno(st);
                if (errno == Errno.EAGAIN) {
                    return 0;
                }
                throw Libc.error("read(eventfd " + fd + ")", errno);
            }
            return buf.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    /** Closes the descriptor. Idempotent. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Libc.close(fd);
        }
    }
}
