package dev.ignition.internal.posix;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.ignition.NativeCallException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.Locale;

/**
 * The C library calls Ignition needs, bound once through FFM, with {@code errno} captured per call
 * and failures turned into {@link NativeCallException}s naming the call and the errno.
 *
 * <p>Constants are those of Linux x86_64/glibc and of macOS arm64, chosen by {@link #OS}.
 */
public final class Libc {
    /** The host OS family, as far as libc constants are concerned. */
    public enum Os { LINUX, MACOS, OTHER }

    public static final Os OS = detectOs();

    public static final int O_RDONLY = 0;
    public static final int O_RDWR = 2;
    public static final int O_CLOEXEC = OS == Os.MACOS ? 0x1000000 : 0x80000;
    public static final int PROT_NONE = 0;
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int PROT_EXEC = 4;
    public static final int MAP_SHARED = 1;
    public static final int MAP_PRIVATE = 2;
    public static final int MAP_FIXED = 0x10;
    public static final int MAP_ANONYMOUS = OS == Os.MACOS ? 0x1000 : 0x20;
    public static final int MAP_NORESERVE = OS == Os.MACOS ? 0x40 : 0x4000;
    public static final int MADV_DONTNEED = 4;

    public static final int EINTR = 4;
    public static final int EAGAIN = OS == Os.MACOS ? 35 : 11;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option ERRNO_OPT = Linker.Option.captureCallState("errno");

    private static final MethodHandle OPEN = bind("open",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), true, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT), true);
    private static final MethodHandle IOCTL_PTR = bind("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), true, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle IOCTL_LONG = bind("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), true, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle MMAP = bind("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG), true);
    private static final MethodHandle MUNMAP = bind("munmap",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG), true);
    private static final MethodHandle MADVISE = bind("madvise",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), true);
    private static final MethodHandle GETPID = bind("getpid", FunctionDescriptor.of(JAVA_INT), false);
    private static final MethodHandle SYSCONF = bind("sysconf", FunctionDescriptor.of(JAVA_LONG, JAVA_INT), false);

    private static final ThreadLocal<MemorySegment> CAPTURE_SEGMENT =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));

    private Libc() {}

    /** Binds {@code name} from the C library, or returns null when this libc lacks it. */
    public static MethodHandle bindOptional(String name, FunctionDescriptor fd, boolean errno, Linker.Option... options) {
        return LIBC.find(name).map(addr -> {
            Linker.Option[] opts = options;
            if (errno) {
                opts = Arrays.copyOf(options, options.length + 1);
                opts[options.length] = ERRNO_OPT;
            }
            return LINKER.downcallHandle(addr, fd, opts);
        }).orElse(null);
    }

    private static MethodHandle bind(String name, FunctionDescriptor fd, boolean errno, Linker.Option... options) {
        MethodHandle mh = bindOptional(name, fd, errno, options);
        if (mh == null) {
            throw new ExceptionInInitializerError("libc has no symbol " + name);
        }
        return mh;
    }

    /** This thread's errno capture buffer; pass it first to handles bound with errno capture. */
    public static MemorySegment captureState() {
        return CAPTURE_SEGMENT.get();
    }

    public static int lastErrno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    /** Opens {@code path}; throws naming the path and errno. */
    public static int open(String path, int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = captureState();
            int fd = (int) OPEN.invokeExact(st, a.allocateFrom(path), flags, 0);
            if (fd < 0) {
                throw error("open(" + path + ")", lastErrno(st));
            }
            return fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Like {@link #open} but returns {@code -errno} instead of throwing. */
    public static int tryOpen(String path, int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = captureState();
            int fd = (int) OPEN.invokeExact(st, a.allocateFrom(path), flags, 0);
            return fd < 0 ? -lastErrno(st) : fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void close(int fd) {
        try {
            MemorySegment st = captureState();
            int rc = (int) CLOSE.invokeExact(st, fd);
            if (rc < 0 && lastErrno(st) != EINTR) {
                throw error("close(" + fd + ")", lastErrno(st));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code ioctl(fd, request, arg)} with a pointer argument; returns the non-negative result.
     *
     * @param name the request's name for error messages, e.g. {@code KVM_GET_REGS}
     */
    public static int ioctl(int fd, long request, MemorySegment arg, String name) {
        int rc = ioctlRaw(fd, request, arg);
        if (rc < 0) {
            throw error("ioctl(" + name + ")", -rc);
        }
        return rc;
    }

    /** {@code ioctl(fd, request, value)} with an integer argument; returns the non-negative result. */
    public static int ioctl(int fd, long request, long value, String name) {
        int rc = ioctlRaw(fd, request, value);
        if (rc < 0) {
            throw error("ioctl(" + name + ")", -rc);
        }
        return rc;
    }

    /** Pointer-argument ioctl returning {@code -errno} on failure instead of throwing. */
    public static int ioctlRaw(int fd, long request, MemorySegment arg) {
        try {
            MemorySegment st = captureState();
            int rc = (int) IOCTL_PTR.invokeExact(st, fd, request, arg);
            return rc < 0 ? -lastErrno(st) : rc;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Value-argument ioctl returning {@code -errno} on failure instead of throwing. */
    public static int ioctlRaw(int fd, long request, long value) {
        try {
            MemorySegment st = captureState();
            int rc = (int) IOCTL_LONG.invokeExact(st, fd, request, value);
            return rc < 0 ? -lastErrno(st) : rc;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code mmap}; returns a segment of {@code length} bytes. The caller owns the mapping and must
     * {@link #munmap} it.
     */
    public static MemorySegment mmap(MemorySegment addr, long length, int prot, int flags, int fd, long offset) {
        try {
            MemorySegment st = captureState();
            MemorySegment p = (MemorySegment) MMAP.invokeExact(st, addr, length, prot, flags, fd, offset);
            if (p.address() == -1L) {
                throw error("mmap(length=" + length + ", prot=" + prot + ", flags=0x"
                        + Integer.toHexString(flags) + ", fd=" + fd + ")", lastErrno(st));
            }
            return p.reinterpret(length);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Anonymous private memory, not reserved against swap, lazily zero-filled by the kernel. */
    public static MemorySegment mmapAnonymous(long length) {
        return mmap(MemorySegment.NULL, length, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    }

    public static void munmap(MemorySegment mapping) {
        try {
            MemorySegment st = captureState();
            int rc = (int) MUNMAP.invokeExact(st, mapping, mapping.byteSize());
            if (rc < 0) {
                throw error("munmap(length=" + mapping.byteSize() + ")", lastErrno(st));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void madvise(MemorySegment range, int advice) {
        try {
            MemorySegment st = captureState();
            int rc = (int) MADVISE.invokeExact(st, range, range.byteSize(), advice);
            if (rc < 0) {
                throw error("madvise(advice=" + advice + ")", lastErrno(st));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getpid() {
        try {
            return (int) GETPID.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The host page size in bytes. */
    public static int pageSize() {
        try {
            long v = (long) SYSCONF.invokeExact(OS == Os.MACOS ? 29 : 30); // _SC_PAGESIZE
            return v > 0 ? (int) v : 4096;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A {@link NativeCallException} for {@code call} failing with {@code errno}. */
    public static NativeCallException error(String call, int errno) {
        return new NativeCallException(call, errno, Errno.name(errno), Errno.describe(errno));
    }

    public static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException re) {
            return re;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException("unexpected checked exception from a native call", t);
    }

    private static Os detectOs() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (os.contains("linux")) {
            return Os.LINUX;
        }
        if (os.contains("mac") || os.contains("darwin")) {
            return Os.MACOS;
        }
        return Os.OTHER;
    }
}
