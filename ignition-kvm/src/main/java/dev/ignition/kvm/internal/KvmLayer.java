package dev.ignition.kvm.internal;

import dev.ignition.internal.posix.Libc;
import java.lang.foreign.MemorySegment;

/**
 * The system calls a KVM VM and its vCPUs make: ioctls on the {@code /dev/kvm}, VM and vCPU
 * descriptors, the vCPU's shared {@code kvm_run} mapping, and the thread signal that kicks a vCPU
 * out of {@code KVM_RUN}. Everything above it (exit decoding, read completions, the state codecs,
 * the MSR list) runs against a scripted fake in unit tests; {@link NativeKvmLayer} is the real
 * implementation. Opening {@code /dev/kvm}, making VM shells ({@link KvmShells}) and irqfds
 * ({@link KvmIrqfds}) stay on {@link Libc}: they have no decoding worth faking.
 */
interface KvmLayer {
    /** {@code ioctl(fd, op, arg)} with a pointer argument; the result, or {@code -errno}. */
    int ioctlRaw(int fd, KvmIoctl op, MemorySegment arg);

    /** {@code ioctl(fd, op, value)} with an integer argument; the result, or {@code -errno}. */
    int ioctlRaw(int fd, KvmIoctl op, long value);

    /**
     * {@code ioctl(fd, op, arg)}; the non-negative result, or a {@code NativeCallException}
     * naming {@code what} and the errno.
     */
    default int ioctl(int fd, KvmIoctl op, MemorySegment arg, String what) {
        int rc = ioctlRaw(fd, op, arg);
        if (rc < 0) {
            throw Libc.error("ioctl(" + what + ")", -rc);
        }
        return rc;
    }

    /** As {@link #ioctl(int, KvmIoctl, MemorySegment, String)}, with an integer argument. */
    default int ioctl(int fd, KvmIoctl op, long value, String what) {
        int rc = ioctlRaw(fd, op, value);
        if (rc < 0) {
            throw Libc.error("ioctl(" + what + ")", -rc);
        }
        return rc;
    }

    /** {@code KVM_RUN} on a vCPU descriptor: 0, or {@code -errno} ({@code EINTR} after a kick). */
    int run(int vcpuFd);

    /** Maps {@code size} bytes of the vCPU's {@code kvm_run} area, shared and writable. */
    MemorySegment mapRun(int vcpuFd, long size);

    /** Unmaps what {@link #mapRun} returned. */
    void unmapRun(MemorySegment run);

    /** {@code close(2)}. */
    void close(int fd);

    /** The calling thread's kernel thread id, for {@link #kick}. */
    int threadId();

    /**
     * Blocks the kick signal in the calling thread and returns the 8-byte kernel signal mask
     * {@code KVM_SET_SIGNAL_MASK} should install while the guest runs (the kick unblocked).
     */
    long blockKickSignal();

    /** Sends the kick signal to thread {@code tid}: its {@code KVM_RUN} returns {@code EINTR}. */
    void kick(int tid);

    /** Accepts a pending kick signal, if any, without waiting; on the vCPU's thread. */
    void drainKick();
}
