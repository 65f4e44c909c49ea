package dev.ignition.kvm.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.ignition.internal.posix.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.jspecify.annotations.Nullable;

/**
 * Process-wide KVM facts read once from {@code /dev/kvm}: the vCPU mapping size and the CPUID the
 * host supports. Keeps one {@code /dev/kvm} descriptor open for the life of the process.
 */
final class KvmSystem {
    private static volatile @Nullable KvmSystem instance;

    final int kvmFd;
    /** The VM and vCPU system calls (the real ones: this is the process-wide {@code /dev/kvm}). */
    final KvmLayer layer = NativeKvmLayer.INSTANCE;
    final long vcpuMmapSize;
    /** {@code kvm_cpuid2} as returned by KVM_GET_SUPPORTED_CPUID (header + nent entries). */
    final byte[] supportedCpuid;
    /** VM shells made ahead, and VM fds closed behind. */
    final KvmShells shells;

    /** MSRs a snapshot saves, once known to be readable for our guests' CPUID (see KvmVcpu). */
    private volatile int @Nullable [] snapshotMsrs;

    private KvmSystem(int kvmFd) {
        this.kvmFd = kvmFd;
        this.vcpuMmapSize = layer.ioctl(kvmFd, KvmIoctl.GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
        this.shells = new KvmShells(kvmFd, KvmShells.poolSize(System.getProperty(KvmShells.POOL_PROPERTY)));
        try (Arena a = Arena.ofConfined()) {
            long entrySize = KvmStructs.KVM_CPUID_ENTRY2.byteSize();
            MemorySegment buf = a.allocate(KvmStructs.KVM_CPUID2.byteSize() + KvmStructs.MAX_CPUID_ENTRIES * entrySize, 8);
            KvmStructs.CPUID2_NENT.set(buf, 0L, KvmStructs.MAX_CPUID_ENTRIES);
            layer.ioctl(kvmFd, KvmIoctl.GET_SUPPORTED_CPUID, buf, "KVM_GET_SUPPORTED_CPUID");
            int nent = buf.get(JAVA_INT, 0);
            this.supportedCpuid = buf.asSlice(0, KvmStructs.KVM_CPUID2.byteSize() + nent * entrySize).toArray(JAVA_BYTE);
        }
    }

    int[] candidateMsrs() {
        int[] m = snapshotMsrs;
        return m != null ? m : MsrList.fromKernel(layer, kvmFd);
    }

    void rememberSnapshotMsrs(int[] readable) {
        snapshotMsrs = readable;
    }

    static KvmSystem get() {
        KvmSystem s = instance;
        if (s == null) {
            synchronized (KvmSystem.class) {
                s = instance;
                if (s == null) {
                    int fd = Libc.open(KvmProvider.DEVICE, Libc.O_RDWR | Libc.O_CLOEXEC);
                    try {
                        s = new KvmSystem(fd);
                    } catch (RuntimeException e) {
                        try {
                            Libc.close(fd);
                        } catch (RuntimeException cleanup) {
                            e.addSuppressed(cleanup);
                        }
                        throw e;
                    }
                    instance = s;
                }
            }
        }
        return s;
    }
}
