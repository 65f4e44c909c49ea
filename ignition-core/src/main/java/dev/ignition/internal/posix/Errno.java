package dev.ignition.internal.posix;

import java.util.Map;

/** Symbolic names and short descriptions of the errno values Ignition reports (Linux numbering). */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int ENXIO = 6;
    public static final int E2BIG = 7;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int EBUSY = 16;
    public static final int EEXIST = 17;
    public static final int EXDEV = 18;
    public static final int ENODEV = 19;
    public static final int EINVAL = 22;
    public static final int ENOTTY = 25;
    public static final int ENOSPC = 28;
    public static final int ENOSYS = 38;
    public static final int EOPNOTSUPP = 95;

    private static final Map<Integer, String[]> NAMES = Map.ofEntries(
            Map.entry(EPERM, new String[] {"EPERM", "operation not permitted"}),
            Map.entry(ENOENT, new String[] {"ENOENT", "no such file or directory"}),
            Map.entry(EINTR, new String[] {"EINTR", "interrupted system call"}),
            Map.entry(EIO, new String[] {"EIO", "input/output error"}),
            Map.entry(ENXIO, new String[] {"ENXIO", "no such device or address"}),
            Map.entry(E2BIG, new String[] {"E2BIG", "argument list too long"}),
            Map.entry(EBADF, new String[] {"EBADF", "bad file descriptor"}),
            Map.entry(EAGAIN, new String[] {"EAGAIN", "resource temporarily unavailable"}),
            Map.entry(ENOMEM, new String[] {"ENOMEM", "cannot allocate memory"}),
            Map.entry(EACCES, new String[] {"EACCES", "permission denied"}),
            Map.entry(EFAULT, new String[] {"EFAULT", "bad address"}),
            Map.entry(EBUSY, new String[] {"EBUSY", "device or resource busy"}),
            Map.entry(EEXIST, new String[] {"EEXIST", "file exists"}),
            Map.entry(EXDEV, new String[] {"EXDEV", "invalid cross-device link"}),
            Map.entry(ENODEV, new String[] {"ENODEV", "no such device"}),
            Map.entry(EINVAL, new String[] {"EINVAL", "invalid argument"}),
            Map.entry(ENOTTY, new String[] {"ENOTTY", "inappropriate ioctl for device"}),
            Map.entry(ENOSPC, new String[] {"ENOSPC", "no space left on device"}),
            Map.entry(ENOSYS, new String[] {"ENOSYS", "function not implemented"}),
            Map.entry(EOPNOTSUPP, new String[] {"EOPNOTSUPP", "operation not supported"}));

    private Errno() {}

    public static String name(int errno) {
        String[] n = NAMES.get(errno);
        return n != null ? n[0] : "errno " + errno;
    }

    public static String describe(int errno) {
        String[] n = NAMES.get(errno);
        return n != null ? n[1] : "";
    }
}
