package dev.ignition.kvm.internal;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.ignition.IgnitionException;
import dev.ignition.SnapshotMismatchException;
import dev.ignition.internal.posix.Errno;
import dev.ignition.internal.x86.LongModeSetup;
import dev.ignition.spi.BootState;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VcpuExit;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A KVM vCPU: its fd, the shared {@code kvm_run} mapping, and the exit decoding. Created, run and
 * closed on one thread; {@link #requestExit()} may come from any thread. All system calls go
 * through the {@link KvmLayer}, so that a fake can stand in for the kernel in unit tests.
 */
final class KvmVcpu implements Vcpu {
    private static final long CR0_PE = 0x1;
    private static final long CR0_PG = 0x8000_0000L;
    private static final long CR4_PAE = 0x20;
    private static final long EFER_LME = 0x100;
    private static final long EFER_LMA = 0x400;
    /** RFLAGS bit 1 is always set. */
    private static final long RFLAGS_RESERVED = 0x2;
    /** RFLAGS.IOPL = 3: in/out are legal at CPL 3. */
    private static final long RFLAGS_IOPL3 = 0x3000;
    private static final int APIC_MODE_NMI = 4;
    private static final int APIC_MODE_EXTINT = 7;

    /** Boot MSRs (index, value), as Firecracker sets them for Linux. */
    private static final long[][] BOOT_MSRS = {
        {0x174, 0}, {0x175, 0}, {0x176, 0}, // SYSENTER_CS/ESP/EIP
        {0xC0000081L, 0}, {0xC0000083L, 0}, {0xC0000102L, 0}, {0xC0000084L, 0}, {0xC0000082L, 0},
        {0x10, 0}, // TSC
        {0x1A0, 1}, // MISC_ENABLE: fast strings
        {0x2FF, 0x806}, // MTRRdefType: enabled, write-back
    };

    /**
     * What a vCPU needs from its VM and the process-wide KVM facts: {@link KvmVm} in production, a
     * fake in unit tests.
     */
    interface Host {
        KvmLayer layer();

        int vmFd();

        /** Bytes of the vCPU's {@code kvm_run} mapping ({@code KVM_GET_VCPU_MMAP_SIZE}). */
        long runSize();

        /** {@code kvm_cpuid2} from {@code KVM_GET_SUPPORTED_CPUID} (header + entries). */
        byte[] supportedCpuid();

        /** The MSRs a snapshot tries to save. */
        int[] candidateMsrs();

        /** The MSRs found readable, so that the next capture does not probe again. */
        void rememberSnapshotMsrs(int[] readable);
    }

    /** Shared: records are immutable, and a pause brings one per vCPU. */
    private static final VcpuExit INTERRUPTED = new VcpuExit.Interrupted();
    private static final VcpuExit HALTED = new VcpuExit.Halted();
    /**
     * {@code struct kvm_run} up to the end of its exit union: port I/O data outside it (KVM puts
     * it on the next page) is malformed, as writing it would overwrite what we decode.
     */
    private static final long RUN_FIXED_END = KvmStructs.RUN_EXIT_OFFSET + 256;

    private final Host host;
    private final KvmLayer kvm;
    private final int index;
    private final int fd;
    private final MemorySegment run;
    private final int tid;
    private final Object kickLock = new Object();
    private boolean closed;

    /** Answers this vCPU's read exits; one instance, so a read exit allocates only its record. */
    private final VcpuExit.ReadCompletion completion = this::complete;
    /** The read exit not answered yet; completions must present this very object. */
    private VcpuExit.@Nullable Read pendingRead;
    /**
     * The last {@code KVM_RUN} stopped at port I/O or MMIO, which KVM finishes (writing a read's
     * value to the register, or moving RIP on) only at the next {@code KVM_RUN}: see {@link #settle}.
     */
    private boolean entryOwed;

    /**
     * The port I/O instruction being delivered: KVM reports a string instruction ({@code rep
     * ins/outs}) as one exit of {@code ioCount} elements at {@code ioDataOffset} in {@code kvm_run};
     * {@link #run()} hands them to the VMM one at a time, {@code ioNext} being the next.
     */
    private int ioPort;
    private int ioSize;
    private boolean ioOut;
    private long ioDataOffset;
    private int ioCount;
    private int ioNext;
    /** The vCPU's TSC frequency and CPUID as captured the first time (see captureState). */
    private byte @Nullable [] tscKhz;
    private byte @Nullable [] cpuid;

    /** @param boot the entry state, or null when {@link #restoreState} will set every register */
    KvmVcpu(Host host, int index, BootState.@Nullable X86LongMode boot) {
        this.host = host;
        this.kvm = host.layer();
        this.index = index;
        this.fd = kvm.ioctl(host.vmFd(), KvmIoctl.CREATE_VCPU, index, "KVM_CREATE_VCPU " + index);
        MemorySegment mapped = null;
        try {
            mapped = kvm.mapRun(fd, host.runSize());
            this.run = mapped;
            this.tid = kvm.threadId();
            setSignalMask(kvm.blockKickSignal());
            setCpuid();
            if (boot != null) {
                setBootState(boot);
            }
        } catch (RuntimeException e) {
            // A failing cleanup must not hide why creation failed.
            try {
                if (mapped != null) {
                    kvm.unmapRun(mapped);
                }
            } catch (RuntimeException cleanup) {
                e.addSuppressed(cleanup);
            }
            try {
                kvm.close(fd);
            } catch (RuntimeException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    @Override
    public int index() {
        return index;
    }

    private void setSignalMask(long mask) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(KvmStructs.KVM_SIGNAL_MASK);
            m.set(JAVA_INT, 0, 8);
            m.set(JAVA_LONG.withByteAlignment(1), 4, mask);
            kvm.ioctl(fd, KvmIoctl.SET_SIGNAL_MASK, m, "KVM_SET_SIGNAL_MASK");
        }
    }

    /** The host's supported CPUID, with the hypervisor bit (so guests find kvmclock) and this vCPU's APIC id. */
    private void setCpuid() {
        byte[] cpuid = host.supportedCpuid();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = KvmStructs.nativeCopy(a, cpuid);
            int nent = buf.get(JAVA_INT, 0);
            long entrySize = KvmStructs.KVM_CPUID_ENTRY2.byteSize();
            for (int i = 0; i < nent; i++) {
                MemorySegment e = buf.asSlice(KvmStructs.KVM_CPUID2.byteSize() + i * entrySize, entrySize);
                int function = e.get(JAVA_INT, 0);
                if (function == 1) {
                    e.set(JAVA_INT, 0x14, e.get(JAVA_INT, 0x14) | (1 << 31)); // ECX.hypervisor
                    e.set(JAVA_INT, 0x10, (e.get(JAVA_INT, 0x10) & 0x00ff_ffff) | (index << 24)); // EBX.apic id
                } else if (function == 0xb || function == 0x1f) {
                    e.set(JAVA_INT, 0x18, index); // EDX: x2APIC id
                }
            }
            kvm.ioctl(fd, KvmIoctl.SET_CPUID2, buf, "KVM_SET_CPUID2");
        }
    }

    private void setBootState(BootState.X86LongMode boot) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sregs = a.allocate(KvmStructs.KVM_SREGS);
            kvm.ioctl(fd, KvmIoctl.GET_SREGS, sregs, "KVM_GET_SREGS");
            // CPL is the DPL of CS and SS; the selectors' RPL and the descriptors' DPL agree with it.
            int cpl = boot.cpl();
            boolean user = cpl == 3;
            segment(sregs, "cs", user ? LongModeSetup.USER_CS : LongModeSetup.KERNEL_CS, 0xb, 0, 1, cpl);
            for (String s : new String[] {"ds", "es", "fs", "gs", "ss"}) {
                segment(sregs, s, user ? LongModeSetup.USER_DS : LongModeSetup.KERNEL_DS, 0x3, 1, 0, cpl);
            }
            MemorySegment tr = slice(sregs, "tr", KvmStructs.KVM_SEGMENT.byteSize());
            setSegmentFields(tr, LongModeSetup.TSS_SELECTOR, 0xb, 0, 0, 0, 0);
            MemorySegment gdt = slice(sregs, "gdt", KvmStructs.KVM_DTABLE.byteSize());
            gdt.set(JAVA_LONG, 0, boot.gdtBase());
            gdt.set(JAVA_SHORT, 8, (short) LongModeSetup.GDT_LIMIT);
            MemorySegment idt = slice(sregs, "idt", KvmStructs.KVM_DTABLE.byteSize());
            idt.set(JAVA_LONG, 0, boot.idtBase());
            idt.set(JAVA_SHORT, 8, (short) LongModeSetup.IDT_LIMIT);
            setSreg(sregs, "cr0", getSreg(sregs, "cr0") | CR0_PE | CR0_PG);
            setSreg(sregs, "cr3", boot.cr3());
            setSreg(sregs, "cr4", getSreg(sregs, "cr4") | CR4_PAE);
            setSreg(sregs, "efer", getSreg(sregs, "efer") | EFER_LME | EFER_LMA);
            kvm.ioctl(fd, KvmIoctl.SET_SREGS, sregs, "KVM_SET_SREGS");

            MemorySegment regs = a.allocate(KvmStructs.KVM_REGS);
            KvmStructs.REGS_RFLAGS.set(regs, 0L, RFLAGS_RESERVED | (user ? RFLAGS_IOPL3 : 0));
            KvmStructs.REGS_RIP.set(regs, 0L, boot.rip());
            KvmStructs.REGS_RSP.set(regs, 0L, boot.rsp());
            KvmStructs.REGS_RBP.set(regs, 0L, boot.rsp());
            KvmStructs.REGS_RSI.set(regs, 0L, boot.rsi());
            kvm.ioctl(fd, KvmIoctl.SET_REGS, regs, "KVM_SET_REGS");
            if (user) {
                // A user-mode program runs with interrupts off and touches no MSR: the kernel-boot
                // setup below (as Firecracker does it for Linux) would be four ioctls for nothing.
                // KVM's reset FPU state already has the default control words.
                return;
            }

            MemorySegment fpu = a.allocate(KvmStructs.KVM_FPU);
            KvmStructs.FPU_FCW.set(fpu, 0L, (short) 0x37f);
            KvmStructs.FPU_MXCSR.set(fpu, 0L, 0x1f80);
            kvm.ioctl(fd, KvmIoctl.SET_FPU, fpu, "KVM_SET_FPU");

            long entry = KvmStructs.KVM_MSR_ENTRY.byteSize();
            MemorySegment msrs = a.allocate(KvmStructs.KVM_MSRS.byteSize() + BOOT_MSRS.length * entry, 8);
            msrs.set(JAVA_INT, 0, BOOT_MSRS.length);
            for (int i = 0; i < BOOT_MSRS.length; i++) {
                long off = KvmStructs.KVM_MSRS.byteSize() + i * entry;
                msrs.set(JAVA_INT, off, (int) BOOT_MSRS[i][0]);
                msrs.set(JAVA_LONG, off + 8, BOOT_MSRS[i][1]);
            }
            int written = kvm.ioctl(fd, KvmIoctl.SET_MSRS, msrs, "KVM_SET_MSRS");
            if (written != BOOT_MSRS.length) {
                throw new IgnitionException("KVM_SET_MSRS set " + written + " of " + BOOT_MSRS.length
                        + " boot MSRs; MSR 0x" + Long.toHexString(BOOT_MSRS[written][0]) + " was refused");
            }

            MemorySegment lapic = a.allocate(KvmStructs.KVM_LAPIC_STATE);
            kvm.ioctl(fd, KvmIoctl.GET_LAPIC, lapic, "KVM_GET_LAPIC");
            setLint(lapic, KvmStructs.APIC_LVT0, APIC_MODE_EXTINT);
            setLint(lapic, KvmStructs.APIC_LVT1, APIC_MODE_NMI);
            kvm.ioctl(fd, KvmIoctl.SET_LAPIC, lapic, "KVM_SET_LAPIC");
        }
    }

    private static void setLint(MemorySegment lapic, long offset, int mode) {
        int reg = lapic.get(JAVA_INT, offset);
        lapic.set(JAVA_INT, offset, (reg & ~0x700) | (mode << 8));
    }

    private static MemorySegment slice(MemorySegment sregs, String field, long size) {
        return sregs.asSlice(KvmStructs.KVM_SREGS.byteOffset(groupElement(field)), size);
    }

    private static void segment(MemorySegment sregs, String name, int selector, int type, int db, int l, int dpl) {
        setSegmentFields(slice(sregs, name, KvmStructs.KVM_SEGMENT.byteSize()), selector, type, db, 1, l, dpl);
    }

    /** A flat 4 GiB segment (base 0, G=1, present). */
    private static void setSegmentFields(MemorySegment seg, int selector, int type, int db, int s, int l, int dpl) {
        seg.set(JAVA_LONG, 0, 0L);
        seg.set(JAVA_INT, 8, 0xffff_ffff);
        seg.set(JAVA_SHORT, 0x0c, (short) selector);
        seg.set(JAVA_BYTE, 0x0e, (byte) type);
        seg.set(JAVA_BYTE, 0x0f, (byte) 1); // present
        seg.set(JAVA_BYTE, 0x10, (byte) dpl);
        seg.set(JAVA_BYTE, 0x11, (byte) db);
        seg.set(JAVA_BYTE, 0x12, (byte) s);
        seg.set(JAVA_BYTE, 0x13, (byte) l);
        seg.set(JAVA_BYTE, 0x14, (byte) 1); // g
        seg.set(JAVA_BYTE, 0x15, (byte) 0); // avl
        seg.set(JAVA_BYTE, 0x16, (byte) 0); // unusable
    }

    private static long getSreg(MemorySegment sregs, String field) {
        return sregs.get(JAVA_LONG, KvmStructs.KVM_SREGS.byteOffset(groupElement(field)));
    }

    private static void setSreg(MemorySegment sregs, String field, long value) {
        sregs.set(JAVA_LONG, KvmStructs.KVM_SREGS.byteOffset(groupElement(field)), value);
    }

    @Override
    public VcpuExit run() {
        if (pendingRead != null) {
            throw new IllegalStateException("vCPU " + index + ": answer the pending " + pendingRead
                    + " (complete it) before running again");
        }
        if (ioNext < ioCount) {
            return nextPortAccess();
        }
        while (true) {
            int rc = kvm.run(fd);
            entryOwed = false; // any return from KVM_RUN finished what the last exit left
            if (rc < 0) {
                int errno = -rc;
                if (errno == Errno.EINTR) {
                    KvmStructs.RUN_IMMEDIATE_EXIT.setVolatile(run, 0L, (byte) 0);
                    kvm.drainKick();
                    return INTERRUPTED;
                }
                if (errno == Errno.EAGAIN) {
                    continue;
                }
                return new VcpuExit.Failed("KVM_RUN failed: " + Errno.name(errno) + " (" + Errno.describe(errno) + ")");
            }
            return decodeExit();
        }
    }

    /**
     * Turns what the kernel wrote into {@code kvm_run} into an exit. Every value that sizes or
     * places a later access is checked first: a bad one fails the vCPU instead of touching memory.
     */
    private VcpuExit decodeExit() {
        int reason = (int) KvmStructs.RUN_EXIT_REASON.get(run, 0L);
        MemorySegment exit = run.asSlice(KvmStructs.RUN_EXIT_OFFSET);
        switch (reason) {
            case KvmIoctl.EXIT_IO -> {
                boolean out = (byte) KvmStructs.IO_DIRECTION.get(exit, 0L) == KvmStructs.IO_OUT;
                int size = (byte) KvmStructs.IO_SIZE.get(exit, 0L);
                int port = Short.toUnsignedInt((short) KvmStructs.IO_PORT.get(exit, 0L));
                int count = (int) KvmStructs.IO_COUNT.get(exit, 0L);
                long dataOffset = (long) KvmStructs.IO_DATA_OFFSET.get(exit, 0L);
                if ((size != 1 && size != 2 && size != 4) || count < 1 || dataOffset < RUN_FIXED_END
                        || dataOffset > run.byteSize() || (long) count * size > run.byteSize() - dataOffset) {
                    return new VcpuExit.Failed("malformed KVM_EXIT_IO (port 0x" + Integer.toHexString(port) + ", size "
                            + size + ", count " + Integer.toUnsignedString(count) + ", data offset " + dataOffset + ")");
                }
                ioOut = out;
                ioSize = size;
                ioPort = port;
                ioDataOffset = dataOffset;
                ioCount = count;
                ioNext = 0;
                entryOwed = true;
                return nextPortAccess();
            }
            case KvmIoctl.EXIT_MMIO -> {
                long addr = (long) KvmStructs.MMIO_PHYS_ADDR.get(exit, 0L);
                int len = (int) KvmStructs.MMIO_LEN.get(exit, 0L);
                if (len < 1 || len > 8) {
                    return new VcpuExit.Failed("malformed KVM_EXIT_MMIO at 0x" + Long.toHexString(addr)
                            + " (len " + Integer.toUnsignedString(len) + ")");
                }
                entryOwed = true;
                if ((byte) KvmStructs.MMIO_IS_WRITE.get(exit, 0L) != 0) {
                    return new VcpuExit.MmioWrite(addr, len, readLe(exit, KvmStructs.MMIO_DATA_OFFSET, len));
                }
                VcpuExit.MmioRead read = new VcpuExit.MmioRead(addr, len, completion);
                pendingRead = read;
                return read;
            }
            case KvmIoctl.EXIT_INTR -> {
                return INTERRUPTED;
            }
            case KvmIoctl.EXIT_HLT -> {
                return HALTED;
            }
            case KvmIoctl.EXIT_SHUTDOWN -> {
                return new VcpuExit.Shutdown("vCPU " + index + " triple-faulted (KVM_EXIT_SHUTDOWN)");
            }
            case KvmIoctl.EXIT_SYSTEM_EVENT -> {
                int type = (int) KvmStructs.EVENT_TYPE.get(exit, 0L);
                if (type == KvmIoctl.SYSTEM_EVENT_SHUTDOWN) {
                    return new VcpuExit.Shutdown("guest requested shutdown");
                }
                if (type == KvmIoctl.SYSTEM_EVENT_RESET) {
                    return new VcpuExit.Reset();
                }
                return new VcpuExit.Failed("KVM_EXIT_SYSTEM_EVENT type " + Integer.toUnsignedString(type));
            }
            case KvmIoctl.EXIT_INTERNAL_ERROR -> {
                int sub = (int) KvmStructs.EVENT_TYPE.get(exit, 0L);
                long ndata = Math.min(MAX_INTERNAL_DATA, Integer.toUnsignedLong((int) KvmStructs.EVENT_NDATA.get(exit, 0L)));
                StringBuilder data = new StringBuilder();
                for (int i = 0; i < ndata; i++) {
                    data.append(i == 0 ? "" : " ").append("0x").append(Long.toHexString(exit.get(JAVA_LONG, 8 + 8L * i)));
                }
                return new VcpuExit.Failed("KVM internal error, suberror " + Integer.toUnsignedString(sub)
                        + (sub == 1 ? " (instruction emulation failed)" : "") + " data [" + data + "]");
            }
            case KvmIoctl.EXIT_FAIL_ENTRY -> {
                return new VcpuExit.Failed("VM entry failed, hardware reason 0x"
                        + Long.toHexString(exit.get(JAVA_LONG, 0)));
            }
            default -> {
                return new VcpuExit.Failed("unhandled KVM exit reason " + Integer.toUnsignedString(reason));
            }
        }
    }

    /** {@code kvm_run.internal.data} has room for 16 values. */
    private static final int MAX_INTERNAL_DATA = 16;

    /** The next element of the port I/O instruction: a write now, or a read to be completed. */
    private VcpuExit nextPortAccess() {
        if (ioOut) {
            long value = readLe(run, ioDataOffset + (long) ioNext * ioSize, ioSize);
            ioNext++;
            return new VcpuExit.PortOut(ioPort, ioSize, value);
        }
        VcpuExit.PortIn read = new VcpuExit.PortIn(ioPort, ioSize, completion);
        pendingRead = read;
        return read;
    }

    /**
     * Writes a read's value where KVM takes it at the next entry: the element's slot in the port
     * I/O data, or {@code kvm_run.mmio.data}. Only the pending exit, once.
     */
    private void complete(VcpuExit.Read exit, long value) {
        if (exit != pendingRead) {
            throw new IllegalStateException("vCPU " + index + ": " + exit + " is not the pending read"
                    + (pendingRead == null ? " (none is pending: answered already, or never this vCPU's)" : ""));
        }
        pendingRead = null;
        switch (exit) {
            case VcpuExit.PortIn in -> {
                writeLe(run, ioDataOffset + (long) ioNext * ioSize, ioSize, value);
                ioNext++;
            }
            case VcpuExit.MmioRead r ->
                    writeLe(run, KvmStructs.RUN_EXIT_OFFSET + KvmStructs.MMIO_DATA_OFFSET, r.size(), value);
        }
    }

    private static long readLe(MemorySegment s, long off, int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (s.get(JAVA_BYTE, off + i) & 0xffL) << (8 * i);
        }
        return v;
    }

    private static void writeLe(MemorySegment s, long off, int size, long value) {
        for (int i = 0; i < size; i++) {
            s.set(JAVA_BYTE, off + i, (byte) (value >>> (8 * i)));
        }
    }

    // ---- snapshot state ----

    private static final int XSAVE_LEGACY_SIZE = 4096;
    private static final int MAX_MSRS_PER_CALL = 255;

    @Override
    public boolean midInstruction() {
        return ioNext < ioCount;
    }

    /** Lets KVM finish an I/O or MMIO exit ({@code KVM_RUN} with {@code immediate_exit}, no guest code). */
    @Override
    public void settle() {
        if (pendingRead != null) {
            throw new IllegalStateException("cannot settle vCPU " + index + ": " + pendingRead + " is not answered");
        }
        if (entryOwed) {
            if (ioNext < ioCount) {
                throw new IllegalStateException("cannot settle vCPU " + index + " inside string I/O");
            }
            runWithImmediateExit("settling");
            entryOwed = false;
        }
    }

    /** {@code KVM_RUN} that must return {@code EINTR} at once: it finishes pending work but runs no guest code. */
    private void runWithImmediateExit(String why) {
        KvmStructs.RUN_IMMEDIATE_EXIT.setVolatile(run, 0L, (byte) 1);
        int rc = kvm.run(fd);
        KvmStructs.RUN_IMMEDIATE_EXIT.setVolatile(run, 0L, (byte) 0);
        kvm.drainKick();
        if (rc >= 0 || -rc != Errno.EINTR) {
            throw new IgnitionException(why + " vCPU " + index + ": KVM_RUN with immediate_exit returned " + rc);
        }
    }

    private int xsaveSize() {
        int size = kvm.ioctlRaw(host.vmFd(), KvmIoctl.CHECK_EXTENSION, KvmIoctl.CAP_XSAVE2);
        return Math.max(XSAVE_LEGACY_SIZE, size);
    }

    private byte[] get(Arena a, KvmIoctl op, long size) {
        MemorySegment buf = a.allocate(size, 8);
        kvm.ioctl(fd, op, buf, op.kernelName() + " (vCPU " + index + ")");
        return buf.toArray(JAVA_BYTE);
    }

    private void set(Arena a, KvmIoctl op, byte[] value) {
        kvm.ioctl(fd, op, KvmStructs.nativeCopy(a, value), op.kernelName() + " (vCPU " + index + ")");
    }

    /**
     * {@code KVM_RUN} with {@code immediate_exit}: the kernel does a vCPU's first-run work (on
     * kernels with NX huge-page mitigation, starting the VM's {@code kvm-nx-lpage-recovery}
     * thread, which can take a scheduler tick) and returns {@code EINTR} before entering the guest.
     */
    @Override
    public void warmUp() {
        runWithImmediateExit("warming up");
    }

    @Override
    public boolean capturableFromAnyThread() {
        return true;
    }

    @Override
    public byte[] captureState() {
        KvmStateCodec s = new KvmStateCodec(KvmStateCodec.Kind.VCPU);
        try (Arena a = Arena.ofConfined()) {
            // MP_STATE first: reading it makes KVM accept pending APIC events.
            s.put("mp_state", get(a, KvmIoctl.GET_MP_STATE, 4));
            s.put("regs", get(a, KvmIoctl.GET_REGS, KvmStructs.KVM_REGS.byteSize()));
            s.put("sregs", get(a, KvmIoctl.GET_SREGS, KvmStructs.KVM_SREGS.byteSize()));
            int xsave = xsaveSize();
            s.put("xsave", get(a, xsave > XSAVE_LEGACY_SIZE ? KvmIoctl.GET_XSAVE2 : KvmIoctl.GET_XSAVE, xsave));
            s.put("xcrs", get(a, KvmIoctl.GET_XCRS, 392));
            s.put("debugregs", get(a, KvmIoctl.GET_DEBUGREGS, 128));
            s.put("lapic", get(a, KvmIoctl.GET_LAPIC, KvmStructs.KVM_LAPIC_STATE.byteSize()));
            // Neither changes once the vCPU has run (KVM refuses new CPUID then): read once.
            if (tscKhz == null) {
                int khz = kvm.ioctlRaw(fd, KvmIoctl.GET_TSC_KHZ, 0);
                tscKhz = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(Math.max(0, khz)).array();
                cpuid = currentCpuid(a);
            }
            s.put("tsc_khz", tscKhz.clone());
            s.put("cpuid", cpuid.clone());
            s.put("msrs", captureMsrs(a));
            s.put("vcpu_events", get(a, KvmIoctl.GET_VCPU_EVENTS, 64));
        }
        return s.encode();
    }

    /** KVM_GET_CPUID2 trimmed to the entries in use (the kernel does not shrink nent). */
    private byte[] currentCpuid(Arena a) {
        long entry = KvmStructs.KVM_CPUID_ENTRY2.byteSize();
        MemorySegment buf = a.allocate(KvmStructs.KVM_CPUID2.byteSize() + KvmStructs.MAX_CPUID_ENTRIES * entry, 8);
        buf.set(JAVA_INT, 0, KvmStructs.MAX_CPUID_ENTRIES);
        kvm.ioctl(fd, KvmIoctl.GET_CPUID2, buf, "KVM_GET_CPUID2");
        int n = buf.get(JAVA_INT, 0);
        return buf.asSlice(0, KvmStructs.KVM_CPUID2.byteSize() + n * entry).toArray(JAVA_BYTE);
    }

    /** Reads every candidate MSR; ones KVM refuses for this CPUID are dropped (and remembered). */
    private byte[] captureMsrs(Arena a) {
        List<Integer> readable = new ArrayList<>();
        List<Long> values = new ArrayList<>();
        int[] candidates = host.candidateMsrs();
        int i = 0;
        while (i < candidates.length) {
            int n = Math.min(MAX_MSRS_PER_CALL, candidates.length - i);
            MemorySegment msrs = msrBuffer(a, candidates, i, n, null);
            int got = kvm.ioctl(fd, KvmIoctl.GET_MSRS, msrs, "KVM_GET_MSRS");
            for (int k = 0; k < got; k++) {
                readable.add(candidates[i + k]);
                values.add(msrs.get(JAVA_LONG, 8 + 16L * k + 8));
            }
            i += got < n ? got + 1 : n; // skip the entry KVM stopped at
        }
        int[] kept = readable.stream().mapToInt(Integer::intValue).toArray();
        host.rememberSnapshotMsrs(kept);
        ByteBuffer b = ByteBuffer.allocate(16 * kept.length).order(ByteOrder.LITTLE_ENDIAN);
        long tsc = 0;
        for (int k = 0; k < kept.length; k++) {
            if (kept[k] == MsrList.IA32_TSC) {
                tsc = values.get(k);
            }
        }
        for (int k = 0; k < kept.length; k++) {
            long v = values.get(k);
            if (kept[k] == MsrList.IA32_TSC_DEADLINE && v == 0) {
                v = tsc; // a zero deadline would leave a lost timer interrupt lost
            }
            b.putLong(Integer.toUnsignedLong(kept[k])).putLong(v);
        }
        return b.array();
    }

    private static MemorySegment msrBuffer(Arena a, int[] indices, int from, int n, long @Nullable [] values) {
        MemorySegment msrs = a.allocate(8 + 16L * n, 8);
        msrs.set(JAVA_INT, 0, n);
        for (int k = 0; k < n; k++) {
            msrs.set(JAVA_INT, 8 + 16L * k, indices[from + k]);
            if (values != null) {
                msrs.set(JAVA_LONG, 8 + 16L * k + 8, values[from + k]);
            }
        }
        return msrs;
    }

    @Override
    public void restoreState(byte[] state) {
        KvmStateCodec s = KvmStateCodec.decode(KvmStateCodec.Kind.VCPU, state);
        // Every record is checked before the first ioctl: a bad blob leaves the vCPU as it was.
        byte[] cpuid = s.get("cpuid", -1);
        byte[] mpState = s.get("mp_state", 4);
        byte[] regs = s.get("regs", (int) KvmStructs.KVM_REGS.byteSize());
        byte[] sregs = s.get("sregs", (int) KvmStructs.KVM_SREGS.byteSize());
        byte[] xsave = s.get("xsave", -1);
        byte[] xcrs = s.get("xcrs", 392);
        byte[] debugregs = s.get("debugregs", 128);
        byte[] lapic = s.get("lapic", (int) KvmStructs.KVM_LAPIC_STATE.byteSize());
        int tscKhz = ByteBuffer.wrap(s.get("tsc_khz", 4)).order(ByteOrder.LITTLE_ENDIAN).getInt();
        SavedMsrs msrs = SavedMsrs.decode(index, s.get("msrs", -1));
        byte[] events = s.get("vcpu_events", 64);
        try (Arena a = Arena.ofConfined()) {
            if (!Arrays.equals(cpuid, currentCpuid(a))) {
                throw new SnapshotMismatchException("vCPU " + index + ": the snapshot's CPUID differs"
                        + " from what this host's KVM offers (snapshot taken on another CPU model or KVM version)");
            }
            int xsaveHere = xsaveSize();
            if (xsave.length != xsaveHere) {
                throw new SnapshotMismatchException("vCPU " + index + ": the snapshot's XSAVE area has "
                        + xsave.length + " bytes, this host's has " + xsaveHere);
            }
            set(a, KvmIoctl.SET_CPUID2, cpuid);
            set(a, KvmIoctl.SET_MP_STATE, mpState);
            set(a, KvmIoctl.SET_REGS, regs);
            set(a, KvmIoctl.SET_SREGS, sregs);
            set(a, KvmIoctl.SET_XSAVE, xsave);
            set(a, KvmIoctl.SET_XCRS, xcrs);
            set(a, KvmIoctl.SET_DEBUGREGS, debugregs);
            // LAPIC before MSRs: the TSC deadline only restores with the LVT timer in deadline mode.
            set(a, KvmIoctl.SET_LAPIC, lapic);
            restoreTscKhz(tscKhz);
            restoreMsrs(a, msrs);
            set(a, KvmIoctl.SET_VCPU_EVENTS, events);
        }
        // Tells the guest's kvmclock the vCPU was paused (EINVAL when kvmclock is not in use).
        kvm.ioctlRaw(fd, KvmIoctl.KVMCLOCK_CTRL, 0);
    }

    private void restoreTscKhz(int saved) {
        int here = kvm.ioctlRaw(fd, KvmIoctl.GET_TSC_KHZ, 0);
        if (saved > 0 && here > 0 && Math.abs((long) here - saved) * 1_000_000L > (long) saved * 250) {
            kvm.ioctl(fd, KvmIoctl.SET_TSC_KHZ, saved, "KVM_SET_TSC_KHZ " + saved);
        }
    }

    /** The {@code msrs} record: (u64 index, u64 value) pairs. */
    private record SavedMsrs(int[] indices, long[] values) {
        static SavedMsrs decode(int vcpu, byte[] msrs) {
            if (msrs.length % 16 != 0) {
                throw new IgnitionException("vCPU " + vcpu + ": MSR state is corrupt (" + msrs.length
                        + " bytes, not a multiple of 16)");
            }
            int n = msrs.length / 16;
            ByteBuffer b = ByteBuffer.wrap(msrs).order(ByteOrder.LITTLE_ENDIAN);
            int[] idx = new int[n];
            long[] val = new long[n];
            for (int k = 0; k < n; k++) {
                idx[k] = (int) b.getLong();
                val[k] = b.getLong();
            }
            return new SavedMsrs(idx, val);
        }
    }

    private void restoreMsrs(Arena a, SavedMsrs msrs) {
        int n = msrs.indices().length;
        for (int i = 0; i < n; i += MAX_MSRS_PER_CALL) {
            int m = Math.min(MAX_MSRS_PER_CALL, n - i);
            int set = kvm.ioctl(fd, KvmIoctl.SET_MSRS, msrBuffer(a, msrs.indices(), i, m, msrs.values()), "KVM_SET_MSRS");
            if (set != m) {
                throw new SnapshotMismatchException("vCPU " + index + ": KVM refused MSR 0x"
                        + Integer.toHexString(msrs.indices()[i + set]) + " on restore");
            }
        }
    }

    @Override
    public void requestExit() {
        synchronized (kickLock) {
            if (closed) {
                return;
            }
            KvmStructs.RUN_IMMEDIATE_EXIT.setVolatile(run, 0L, (byte) 1);
            VarHandle.fullFence();
            kvm.kick(tid);
        }
    }

    @Override
    public void close() {
        synchronized (kickLock) {
            if (closed) {
                return;
            }
            closed = true;
        }
        // The exit (and its completion) may outlive the vCPU: nothing may write kvm_run once unmapped.
        pendingRead = null;
        ioCount = 0;
        ioNext = 0;
        kvm.unmapRun(run);
        kvm.close(fd);
        kvm.drainKick();
    }
}
