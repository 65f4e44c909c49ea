package dev.ignition.internal.net;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.ignition.NetworkUnavailableException;
import dev.ignition.internal.posix.EventFd;
import dev.ignition.internal.posix.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Linux TAP interface as a frame backend: {@code /dev/net/tun} attached with
 * {@code TUNSETIFF(IFF_TAP | IFF_NO_PI)}, so each {@code read}/{@code write} is one Ethernet frame.
 * A name that does not exist yet creates a TAP that disappears when the VM closes; an existing
 * persistent TAP ({@code ip tuntap add dev tap0 mode tap user $USER}) can be attached without
 * privileges by its owner; anything else needs {@code CAP_NET_ADMIN}.
 *
 * <p>The reader thread waits in {@code poll} on the TAP and an eventfd that {@link #close} signals.
 */
public final class TapBackend implements FrameBackend {
    private static final Logger LOG = LoggerFactory.getLogger(TapBackend.class);
    static final long TUNSETIFF = 0x4004_54caL; // _IOW('T', 202, int)
    static final short IFF_TAP = 0x0002;
    static final short IFF_NO_PI = 0x1000;
    static final int IFNAMSIZ = 16;
    static final short POLLIN = 1;
    static final int EPERM = 1;
    static final int ENOENT = 2;
    static final int EIO = 5;
    static final int EACCES = 13;
    static final int EBUSY = 16;
    static final int EINVAL = 22;
    /** A TAP without offloads never hands over more than one MTU; 64 KiB covers any MTU. */
    static final int READ_BUFFER = 65_536;

    /** {@code struct ifreq} as far as TUNSETIFF uses it: the name, then the flags; 40 bytes. */
    static final StructLayout IFREQ = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(IFNAMSIZ, ValueLayout.JAVA_BYTE).withName("ifr_name"),
            ValueLayout.JAVA_SHORT.withName("ifr_flags"),
            MemoryLayout.paddingLayout(22));
    private static final VarHandle IFR_FLAGS = IFREQ.varHandle(MemoryLayout.PathElement.groupElement("ifr_flags"));
    /** {@code struct pollfd}: fd, events, revents. */
    static final StructLayout POLLFD = MemoryLayout.structLayout(JAVA_INT.withName("fd"),
            ValueLayout.JAVA_SHORT.withName("events"), ValueLayout.JAVA_SHORT.withName("revents"));

    private static final @Nullable MethodHandle READ = Libc.bindOptional("read",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), true);
    private static final @Nullable MethodHandle WRITE = Libc.bindOptional("write",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), true);
    private static final @Nullable MethodHandle POLL = Libc.bindOptional("poll",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), true);

    private final String name;
    private final int fd;
    private final EventFd wake;
    private final Object writeLock = new Object();
    private final Arena writeArena = Arena.ofShared();
    private final MemorySegment writeBuffer = writeArena.allocate(READ_BUFFER);
    private volatile boolean closed;
    private @Nullable Thread reader;

    private TapBackend(String name, int fd, EventFd wake) {
        this.name = name;
        this.fd = fd;
        this.wake = wake;
    }

    /**
     * Attaches to (or creates) TAP interface {@code name}.
     *
     * @throws NetworkUnavailableException if this is not Linux, there is no {@code /dev/net/tun},
     *     or the process may not attach the interface
     */
    public static TapBackend open(String name) {
        if (Libc.OS != Libc.Os.LINUX || READ == null || WRITE == null || POLL == null) {
            throw new NetworkUnavailableException("TAP networking (Network.tap) is Linux-only; use Network.userMode()");
        }
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length >= IFNAMSIZ) {
            throw new IllegalArgumentException("a TAP interface name has 1-15 bytes: '" + name + "'");
        }
        int fd = Libc.tryOpen("/dev/net/tun", Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd < 0) {
            throw new NetworkUnavailableException(explain(name, "open(/dev/net/tun)", -fd));
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = a.allocate(IFREQ);
            MemorySegment.copy(bytes, 0, ifr, ValueLayout.JAVA_BYTE, 0, bytes.length);
            IFR_FLAGS.set(ifr, 0L, (short) (IFF_TAP | IFF_NO_PI));
            int rc = Libc.ioctlRaw(fd, TUNSETIFF, ifr);
            if (rc < 0) {
                throw new NetworkUnavailableException(explain(name, "ioctl(TUNSETIFF, IFF_TAP | IFF_NO_PI)", -rc));
            }
            EventFd wake = EventFd.open();
            LOG.debug("attached TAP interface {} (fd {})", name, fd);
            return new TapBackend(name, fd, wake);
        } catch (RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
    }

    /** What a user can do about {@code errno} from {@code call} while attaching {@code name}. */
    static String explain(String name, String call, int errno) {
        String what = "cannot attach TAP interface '" + name + "': " + call + " failed with errno " + errno;
        return switch (errno) {
            case EPERM, EACCES -> what + " (permission denied). Creating or attaching a TAP interface needs"
                    + " CAP_NET_ADMIN: run as root, grant the JVM CAP_NET_ADMIN, or create the interface beforehand"
                    + " for this user (ip tuntap add dev " + name + " mode tap user $USER); Network.userMode() needs"
                    + " no privileges";
            case ENOENT -> what + " (no /dev/net/tun: load the tun module, modprobe tun)";
            case EBUSY -> what + " (the interface is in use by another process)";
            case EINVAL -> what + " (an interface of that name exists and is not a TAP)";
            default -> what;
        };
    }

    public String name() {
        return name;
    }

    @Override
    public String describe() {
        return "tap (" + name + ")";
    }

    @Override
    public synchronized void start(Receiver receiver) {
        if (reader != null) {
            throw new IllegalStateException("TAP backend already started");
        }
        Thread t = Thread.ofPlatform().daemon().name("ignition-net-tap-" + name).unstarted(() -> read(receiver));
        reader = t;
        t.start();
    }

    private void read(Receiver receiver) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(POLLFD, 2);
            MemorySegment buf = a.allocate(READ_BUFFER);
            while (!closed) {
                fds.set(JAVA_INT, 0, fd);
                fds.set(ValueLayout.JAVA_SHORT, 4, POLLIN);
                fds.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
                fds.set(JAVA_INT, 8, wake.fd());
                fds.set(ValueLayout.JAVA_SHORT, 12, POLLIN);
                fds.set(ValueLayout.JAVA_SHORT, 14, (short) 0);
                MemorySegment st = Libc.captureState();
                int rc = (int) POLL.invokeExact(st, fds, 2L, -1);
                if (rc < 0) {
                    int errno = Libc.lastErrno(st);
                    if (errno == Libc.EINTR) {
                        continue;
                    }
                    LOG.warn("TAP {}: poll failed with errno {}; no more frames for the guest", name, errno);
                    return;
                }
                if (closed || fds.get(ValueLayout.JAVA_SHORT, 14) != 0) {
                    return;
                }
                if (fds.get(ValueLayout.JAVA_SHORT, 6) == 0) {
                    continue;
                }
                long n = (long) READ.invokeExact(st, fd, buf, (long) READ_BUFFER);
                if (n < 0) {
                    int errno = Libc.lastErrno(st);
                    if (errno == Libc.EINTR || errno == Libc.EAGAIN) {
                        continue;
                    }
                    LOG.warn("TAP {}: read failed with errno {}; no more frames for the guest", name, errno);
                    return;
                }
                if (n > 0 && !receiver.frame(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE))) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable t) {
            LOG.warn("TAP {}: reader stopped", name, t);
        }
    }

    @Override
    public void send(byte[] frame) {
        synchronized (writeLock) {
            if (closed || frame.length > READ_BUFFER) {
                return;
            }
            MemorySegment.copy(frame, 0, writeBuffer, ValueLayout.JAVA_BYTE, 0, frame.length);
            try {
                MemorySegment st = Libc.captureState();
                long n = (long) WRITE.invokeExact(st, fd, writeBuffer, (long) frame.length);
                if (n < 0 && Libc.lastErrno(st) != EIO) { // EIO: the interface is down, the frame is lost as on a wire
                    LOG.debug("TAP {}: frame dropped, write failed with errno {}", name, Libc.lastErrno(st));
                }
            } catch (Throwable t) {
                throw Libc.rethrow(t);
            }
        }
    }

    @Override
    public void close() {
        synchronized (writeLock) {
            if (closed) {
                return;
            }
            closed = true;
        }
        wake.signal();
        Thread t;
        synchronized (this) {
            t = reader;
        }
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(TimeUnit.SECONDS.toMillis(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        Libc.close(fd);
        wake.close();
        writeArena.close();
    }
}
