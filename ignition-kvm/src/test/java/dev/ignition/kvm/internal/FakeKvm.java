package dev.ignition.kvm.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.ignition.internal.posix.Errno;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.ToIntFunction;
import org.jspecify.annotations.Nullable;

/**
 * A scripted stand-in for the kernel's KVM, for unit tests without {@code /dev/kvm}.
 *
 * <p>It records every call in order ({@link #calls}, e.g. {@code "KVM_SET_REGS fd 101"}), and keeps
 * what a {@code KVM_SET_*} ioctl stored, per descriptor, for the matching {@code KVM_GET_*} (so a
 * capture from one fake restores into another and the two can be compared). MSRs are kept per
 * index; {@code KVM_GET_MSRS} stops at an index in {@link #unreadableMsrs} and {@code KVM_SET_MSRS}
 * at one in {@link #refusedMsrs}, as the kernel does.
 *
 * <p>{@code KVM_RUN} follows {@code kvm_run.immediate_exit} and pending kicks as the kernel does
 * ({@code EINTR} without running), and otherwise takes the vCPU's next scripted step, which writes
 * an exit into the {@code kvm_run} page and returns the ioctl's result.
 */
class FakeKvm implements KvmLayer, KvmVcpu.Host {
    static final int VM_FD = 100;
    static final int FIRST_VCPU_FD = 101;
    static final long RUN_SIZE = 3 * 4096;
    /** Where the kernel puts port I/O data: {@code KVM_PIO_PAGE_OFFSET} pages into {@code kvm_run}. */
    static final long PIO_DATA = 4096;
    static final int TID = 4242;
    static final long RUN_SIGNAL_MASK = 0x5a5aL;
    static final int TSC = MsrList.IA32_TSC;
    static final int TSC_DEADLINE = MsrList.IA32_TSC_DEADLINE;

    /** One {@code KVM_RUN}: may write {@code kvm_run}; returns 0 or {@code -errno}. */
    interface Step extends ToIntFunction<MemorySegment> {}

    final List<String> calls = Collections.synchronizedList(new ArrayList<>());
    /** What SET ioctls stored: descriptor, then struct name ({@code "REGS"}, {@code "IRQCHIP1"}, ...). */
    final Map<Integer, Map<String, byte[]>> structs = new HashMap<>();
    final Map<Integer, Map<Integer, Long>> msrs = new HashMap<>();
    final Set<Integer> unreadableMsrs = new HashSet<>();
    final Set<Integer> refusedMsrs = new HashSet<>();
    final Map<Integer, Integer> tscKhz = new HashMap<>();
    final Map<Integer, MemorySegment> runs = new LinkedHashMap<>();
    final Map<Integer, Deque<Step>> scripts = new HashMap<>();
    /** Errnos to fail a call with, by ioctl. */
    final Map<KvmIoctl, Integer> failures = new HashMap<>();
    final Set<Integer> closed = new HashSet<>();
    /** The answer to {@code KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2)}: 0 keeps the legacy 4 KiB area. */
    int xsave2Size;
    int defaultTscKhz = 2_000_000;
    int kicksPending;
    /** What {@code KVM_GET_MSR_INDEX_LIST} on {@code /dev/kvm} answers. */
    int[] msrIndexList = {};
    int[] candidateMsrs = {0x174, TSC, 0x1a0, 0xc0000080, TSC_DEADLINE};
    int @Nullable [] rememberedMsrs;
    byte[] supportedCpuid = cpuid(new int[][] {
        {0, 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69},
        {1, 0, 0, 0x806c1, 0x00100800, 0x7ffafbbf, 0xbfebfbff},
        {0xb, 0, 1, 0x1, 0x1, 0x100, 0x0},
    });
    private int nextFd = FIRST_VCPU_FD;
    private final Arena arena = Arena.ofAuto();

    /** A {@code kvm_cpuid2}: per entry function, index, flags, eax, ebx, ecx, edx. */
    static byte[] cpuid(int[][] entries) {
        MemorySegment m = Arena.ofAuto().allocate(8 + 40L * entries.length, 8);
        m.set(JAVA_INT, 0, entries.length);
        for (int i = 0; i < entries.length; i++) {
            for (int f = 0; f < 7; f++) {
                m.set(JAVA_INT, 8 + 40L * i + 4L * f, entries[i][f]);
            }
        }
        return m.toArray(JAVA_BYTE);
    }

    /** An aligned native copy of {@code bytes}, to read saved structs with the kernel's layouts. */
    static MemorySegment view(byte[] bytes) {
        MemorySegment m = Arena.ofAuto().allocate(Math.max(1, bytes.length), 8);
        MemorySegment.copy(bytes, 0, m, JAVA_BYTE, 0, bytes.length);
        return m;
    }

    // ---- scripting ----

    void script(int vcpuFd, Step... steps) {
        Deque<Step> d = scripts.computeIfAbsent(vcpuFd, k -> new ArrayDeque<>());
        Collections.addAll(d, steps);
    }

    static Step exit(int reason) {
        return run -> {
            run.set(JAVA_INT, 8, reason);
            return 0;
        };
    }

    static Step errno(int errno) {
        return run -> -errno;
    }

    /** {@code KVM_EXIT_IO}; {@code data} goes to {@code dataOffset} (writes' values, or what a read leaves). */
    static Step io(boolean out, int size, int port, int count, long dataOffset, byte... data) {
        return run -> {
            run.set(JAVA_INT, 8, KvmIoctl.EXIT_IO);
            run.set(JAVA_BYTE, 0x20, (byte) (out ? 1 : 0));
            run.set(JAVA_BYTE, 0x21, (byte) size);
            run.set(JAVA_SHORT, 0x22, (short) port);
            run.set(JAVA_INT, 0x24, count);
            run.set(JAVA_LONG, 0x28, dataOffset);
            if (data.length > 0) {
                MemorySegment.copy(data, 0, run, JAVA_BYTE, dataOffset, data.length);
            }
            return 0;
        };
    }

    /** {@code KVM_EXIT_MMIO}; a write's value in little-endian {@code data}, a read's left as {@code value}. */
    static Step mmio(boolean write, long address, int len, long value) {
        return run -> {
            run.set(JAVA_INT, 8, KvmIoctl.EXIT_MMIO);
            run.set(JAVA_LONG, 0x20, address);
            run.set(JAVA_LONG, 0x28, value);
            run.set(JAVA_INT, 0x30, len);
            run.set(JAVA_BYTE, 0x34, (byte) (write ? 1 : 0));
            return 0;
        };
    }

    /** {@code KVM_EXIT_SYSTEM_EVENT} or {@code KVM_EXIT_INTERNAL_ERROR}: type, ndata, data[]. */
    static Step event(int reason, int type, int ndata, long... data) {
        return run -> {
            run.set(JAVA_INT, 8, reason);
            run.set(JAVA_INT, 0x20, type);
            run.set(JAVA_INT, 0x24, ndata);
            for (int i = 0; i < data.length; i++) {
                run.set(JAVA_LONG, 0x28 + 8L * i, data[i]);
            }
            return 0;
        };
    }

    MemorySegment runPage(int vcpuFd) {
        return runs.get(vcpuFd);
    }

    Map<String, byte[]> structs(int fd) {
        return structs.computeIfAbsent(fd, k -> new HashMap<>());
    }

    Map<Integer, Long> msrs(int fd) {
        return msrs.computeIfAbsent(fd, k -> new LinkedHashMap<>());
    }

    long kvmRuns() {
        return calls.stream().filter(c -> c.startsWith("KVM_RUN")).count();
    }

    // ---- KvmVcpu.Host ----

    @Override
    public KvmLayer layer() {
        return this;
    }

    @Override
    public int vmFd() {
        return VM_FD;
    }

    @Override
    public long runSize() {
        return RUN_SIZE;
    }

    @Override
    public byte[] supportedCpuid() {
        return supportedCpuid;
    }

    @Override
    public int[] candidateMsrs() {
        return rememberedMsrs != null ? rememberedMsrs : candidateMsrs;
    }

    @Override
    public void rememberSnapshotMsrs(int[] readable) {
        rememberedMsrs = readable;
    }

    // ---- KvmLayer ----

    /** The struct an ioctl reads or writes, shared by its GET and SET. */
    private static String structName(KvmIoctl op) {
        String n = op.name().replaceFirst("^(GET|SET)_", "");
        return n.equals("XSAVE2") ? "XSAVE" : n;
    }

    @Override
    public int ioctlRaw(int fd, KvmIoctl op, MemorySegment arg) {
        calls.add(op.kernelName() + " fd " + fd);
        Integer failure = failures.get(op);
        if (failure != null) {
            return -failure;
        }
        Map<String, byte[]> mine = structs(fd);
        switch (op) {
            case GET_MSRS -> {
                int n = arg.get(JAVA_INT, 0);
                for (int k = 0; k < n; k++) {
                    int index = arg.get(JAVA_INT, 8 + 16L * k);
                    if (unreadableMsrs.contains(index)) {
                        return k;
                    }
                    arg.set(JAVA_LONG, 8 + 16L * k + 8, msrs(fd).getOrDefault(index, 0L));
                }
                return n;
            }
            case SET_MSRS -> {
                int n = arg.get(JAVA_INT, 0);
                for (int k = 0; k < n; k++) {
                    int index = arg.get(JAVA_INT, 8 + 16L * k);
                    if (refusedMsrs.contains(index)) {
                        return k;
                    }
                    msrs(fd).put(index, arg.get(JAVA_LONG, 8 + 16L * k + 8));
                }
                return n;
            }
            case GET_MSR_INDEX_LIST -> {
                int room = arg.get(JAVA_INT, 0);
                arg.set(JAVA_INT, 0, msrIndexList.length);
                if (room < msrIndexList.length) {
                    return -Errno.E2BIG;
                }
                for (int i = 0; i < msrIndexList.length; i++) {
                    arg.set(JAVA_INT, 4 + 4L * i, msrIndexList[i]);
                }
                return 0;
            }
            case GET_IRQCHIP, SET_IRQCHIP -> {
                String key = "IRQCHIP" + arg.get(JAVA_INT, 0);
                if (op == KvmIoctl.SET_IRQCHIP) {
                    mine.put(key, arg.toArray(JAVA_BYTE));
                } else if (mine.containsKey(key)) {
                    MemorySegment.copy(mine.get(key), 0, arg, JAVA_BYTE, 0, (int) arg.byteSize());
                }
                return 0;
            }
            case GET_CPUID2 -> {
                byte[] c = mine.getOrDefault("CPUID2", new byte[8]);
                int room = arg.get(JAVA_INT, 0);
                int nent = view(c).get(JAVA_INT, 0);
                if (nent > room) {
                    return -Errno.E2BIG;
                }
                MemorySegment.copy(c, 0, arg, JAVA_BYTE, 0, c.length);
                return 0;
            }
            default -> {
                if (op.name().startsWith("SET_")) {
                    mine.put(structName(op), arg.toArray(JAVA_BYTE));
                } else if (op.name().startsWith("GET_")) {
                    byte[] v = mine.get(structName(op));
                    if (v != null) {
                        MemorySegment.copy(v, 0, arg, JAVA_BYTE, 0, (int) Math.min(v.length, arg.byteSize()));
                    }
                }
                return 0;
            }
        }
    }

    @Override
    public int ioctlRaw(int fd, KvmIoctl op, long value) {
        calls.add(op.kernelName() + " fd " + fd + " " + value);
        Integer failure = failures.get(op);
        if (failure != null) {
            return -failure;
        }
        return switch (op) {
            case CREATE_VCPU -> fd == VM_FD ? nextFd++ : -Errno.EBADF;
            case CHECK_EXTENSION -> value == KvmIoctl.CAP_XSAVE2 ? xsave2Size : 0;
            case GET_TSC_KHZ -> tscKhz.getOrDefault(fd, defaultTscKhz);
            case SET_TSC_KHZ -> {
                tscKhz.put(fd, (int) value);
                yield 0;
            }
            case KVMCLOCK_CTRL -> -Errno.EINVAL;
            default -> 0;
        };
    }

    @Override
    public int run(int vcpuFd) {
        MemorySegment run = runs.get(vcpuFd);
        boolean immediate = run.get(JAVA_BYTE, 1) != 0;
        calls.add("KVM_RUN fd " + vcpuFd + (immediate ? " immediate_exit" : ""));
        if (immediate || kicksPending > 0) {
            return -Errno.EINTR;
        }
        Deque<Step> d = scripts.get(vcpuFd);
        if (d == null || d.isEmpty()) {
            throw new IllegalStateException("KVM_RUN on fd " + vcpuFd + " with nothing scripted");
        }
        return d.poll().applyAsInt(run);
    }

    @Override
    public MemorySegment mapRun(int vcpuFd, long size) {
        calls.add("mmap fd " + vcpuFd + " " + size);
        MemorySegment m = arena.allocate(size, 4096);
        runs.put(vcpuFd, m);
        return m;
    }

    @Override
    public void unmapRun(MemorySegment run) {
        calls.add("munmap " + run.byteSize());
    }

    @Override
    public void close(int fd) {
        calls.add("close fd " + fd);
        closed.add(fd);
    }

    @Override
    public int threadId() {
        return TID;
    }

    @Override
    public long blockKickSignal() {
        return RUN_SIGNAL_MASK;
    }

    @Override
    public void kick(int tid) {
        calls.add("kick " + tid);
        kicksPending++;
    }

    @Override
    public void drainKick() {
        kicksPending = 0;
    }
}
