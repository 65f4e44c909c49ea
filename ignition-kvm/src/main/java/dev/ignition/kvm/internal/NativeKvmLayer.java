package dev.ignition.kvm.internal;

import dev.ignition.internal.posix.Libc;
import java.lang.foreign.MemorySegment;

/** {@link KvmLayer} over {@link Libc} and {@link ThreadSignals}. */
final class NativeKvmLayer implements KvmLayer {
    static final NativeKvmLayer INSTANCE = new NativeKvmLayer();

    private NativeKvmLayer() {}

    @Override
    public int ioctlRaw(int fd, KvmIoctl op, MemorySegment arg) {
        return Libc.ioctlRaw(fd, op.request, arg);
    }

    @Override
    public int ioctlRaw(int fd, KvmIoctl op, long value) {
        return Libc.ioctlRaw(fd, op.request, value);
    }

    @Override
    public int run(int vcpuFd) {
        return Libc.ioctlRaw(vcpuFd, KvmIoctl.RUN.request, 0);
    }

    @Override
    public MemorySegment mapRun(int vcpuFd, long size) {
        return Libc.mmap(MemorySegment.NULL, size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, vcpuFd, 0);
    }

    @Override
    public void unmapRun(MemorySegment run) {
        Libc.munmap(run);
    }

    @Override
    public void close(int fd) {
        Libc.close(fd);
    }

    @Override
    public int threadId() {
        return ThreadSignals.gettid();
    }

    @Override
    public long blockKickSignal() {
        return ThreadSignals.blockKickAndGetRunMask();
    }

    @Override
    public void kick(int tid) {
        ThreadSignals.kick(tid);
    }

    @Override
    public void drainKick() {
        ThreadSignals.drainKick();
    }
}
