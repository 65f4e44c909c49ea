package dev.ignition.kvm.internal;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.ignition.internal.posix.Errno;
import dev.ignition.internal.posix.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Which MSRs a snapshot saves: the kernel's index list filtered to architectural and KVM
 * paravirtual MSRs that restore meaningfully (the ranges Firecracker saves), with
 * IA32_TSC_DEADLINE moved last so it is restored after IA32_TSC.
 */
final class MsrList {
    static final int IA32_TSC = 0x10;
    static final int IA32_TSC_DEADLINE = 0x6e0;
    private static final int IA32_MCG_CTL = 0x17b;

    private static final long[][] SERIALIZABLE = {
        {0x0, 0x1}, {0x10, 0x10}, {0x17, 0x17}, {0x1b, 0x1b}, {0x2a, 0x2a}, {0x2c, 0x2c}, {0x34, 0x34},
        {0x3a, 0x3b}, {0x48, 0x49}, {0x79, 0x79}, {0x8b, 0x8b}, {0x9e, 0x9e}, {0xcd, 0xce}, {0xe2, 0xe2},
        {0xe7, 0xe8}, {0xfe, 0xfe}, {0x11e, 0x11e}, {0x122, 0x122}, {0x140, 0x140}, {0x174, 0x176},
        {0x179, 0x17a}, {0x198, 0x198}, {0x1a0, 0x1a0}, {0x1a4, 0x1a4}, {0x1aa, 0x1aa}, {0x1ad, 0x1ae},
        {0x1d9, 0x1d9}, {0x1db, 0x1de}, {0x1fc, 0x1fc}, {0x200, 0x2ff}, {0x3fc, 0x3fe}, {0x400, 0x47f},
        {0x606, 0x606}, {0x60a, 0x60c}, {0x610, 0x611}, {0x613, 0x614}, {0x618, 0x619}, {0x61b, 0x61c},
        {0x648, 0x64c}, {0x6e0, 0x6e0}, {0x800, 0xbff}, {0xda0, 0xda0}, {0xd90, 0xd90},
        {0xc000_0080L, 0xc000_0084L}, {0xc000_0100L, 0xc000_0103L}, {0xc001_0015L, 0xc001_0015L},
        {0x4b56_4d00L, 0x4b56_4dffL},
    };

    private MsrList() {}

    static boolean serializable(long index) {
        if (index == IA32_MCG_CTL) {
            return false;
        }
        for (long[] r : SERIALIZABLE) {
            if (index >= r[0] && index <= r[1]) {
                return true;
            }
        }
        return false;
    }

    /** KVM_GET_MSR_INDEX_LIST, filtered, TSC_DEADLINE last. */
    static int[] fromKernel(KvmLayer kvm, int kvmFd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment probe = a.allocate(4 + 4 * 4L, 4);
            int rc = kvm.ioctlRaw(kvmFd, KvmIoctl.GET_MSR_INDEX_LIST, probe);
            int n = probe.get(JAVA_INT, 0);
            if (rc < 0 && -rc != Errno.E2BIG) {
                throw Libc.error("ioctl(KVM_GET_MSR_INDEX_LIST)", -rc);
            }
            MemorySegment list = a.allocate(4 + 4L * n, 4);
            list.set(JAVA_INT, 0, n);
            kvm.ioctl(kvmFd, KvmIoctl.GET_MSR_INDEX_LIST, list, "KVM_GET_MSR_INDEX_LIST");
            n = list.get(JAVA_INT, 0);
            List<Integer> out = new ArrayList<>();
            boolean deadline = false;
            for (int i = 0; i < n; i++) {
                int idx = list.get(JAVA_INT, 4 + 4L * i);
                if (idx == IA32_TSC_DEADLINE) {
                    deadline = true;
                } else if (serializable(Integer.toUnsignedLong(idx))) {
                    out.add(idx);
                }
            }
            if (deadline) {
                out.add(IA32_TSC_DEADLINE);
            }
            return out.stream().mapToInt(Integer::intValue).toArray();
        }
    }
}
