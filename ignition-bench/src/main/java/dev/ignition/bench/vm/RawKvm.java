package dev.ignition.bench.vm;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import dev.ignition.guest.FreestandingGuest;
import dev.ignition.internal.posix.Libc;
import dev.ignition.internal.x86.LongModeSetup;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.spi.BootState;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The floor for "VM create → first guest output": the fewest KVM ioctls that get a freestanding
 * guest to its first byte on COM1, issued from Java through the same FFM calls Ignition uses, with
 * Ignition's boot layout (GDT, identity map, CPL 3) — and nothing else: no irqchip, no PIT, no
 * MSRs, no LAPIC, no signal mask, no device bus, no threads. The host's supported CPUID is read
 * once per process, as Ignition does; KVM refuses {@code EFER.LME} without CPUID's long-mode bit.
 *
 * <p>Struct offsets are those of {@code include/uapi/linux/kvm.h} on x86_64 (the backend's struct
 * tests pin the same numbers).
 */
public final class RawKvm implements AutoCloseable {
    private static final long CREATE_VM = 0xAE01L;
    private static final long GET_VCPU_MMAP_SIZE = 0xAE04L;
    private static final long GET_SUPPORTED_CPUID = 0xC008AE05L;
    private static final long CREATE_VCPU = 0xAE41L;
    private static final long SET_USER_MEMORY_REGION = 0x4020AE46L;
    private static final long RUN = 0xAE80L;
    private static final long SET_REGS = 0x4090AE82L;
    private static final long GET_SREGS = 0x8138AE83L;
    private static final long SET_SREGS = 0x4138AE84L;
    private static final long SET_CPUID2 = 0x4008AE90L;
    private static final int EXIT_IO = 2;
    private static final int CPUID_ENTRIES = 256;
    private static final int CPUID_ENTRY_BYTES = 40;
    private static final int COM1 = 0x3f8;
    private static final int COM1_LSR = COM1 + 5;
    private static final byte LSR_THRE = 0x20;

    private final int kvmFd;
    private final long vcpuMmapSize;
    private final MemorySegment cpuid;
    private final Arena arena = Arena.ofShared();

    /** Opens {@code /dev/kvm} and reads what Ignition also reads once per process. */
    public RawKvm() {
        this.kvmFd = Libc.open("/dev/kvm", Libc.O_RDWR | Libc.O_CLOEXEC);
        this.vcpuMmapSize = Libc.ioctl(kvmFd, GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
        this.cpuid = arena.allocate(8 + (long) CPUID_ENTRIES * CPUID_ENTRY_BYTES, 8);
        cpuid.set(JAVA_INT, 0, CPUID_ENTRIES);
        Libc.ioctl(kvmFd, GET_SUPPORTED_CPUID, cpuid, "KVM_GET_SUPPORTED_CPUID");
    }

    /** {@link System#nanoTime()} when the last {@link #firstOutput} saw its byte. */
    private long firstOutputAt;

    /** When the last {@link #firstOutput} call saw the guest's byte ({@link System#nanoTime()}), before teardown. */
    public long firstOutputAt() {
        return firstOutputAt;
    }

    /**
     * Creates a VM with {@code memoryBytes} of RAM in one slot and one vCPU, loads {@code guest},
     * runs it to its first byte written to COM1 (answering its polls of the line status register)
     * and tears everything down. Returns that byte.
     */
    public int firstOutput(FreestandingGuest guest, long memoryBytes) {
        int vm = Libc.ioctl(kvmFd, CREATE_VM, 0, "KVM_CREATE_VM");
        MemorySegment ram = null;
        MemorySegment run = null;
        int vcpu = -1;
        try (Arena a = Arena.ofConfined()) {
            ram = Libc.mmapAnonymous(memoryBytes);
            MemorySegment region = a.allocate(32, 8);
            region.set(JAVA_LONG, 8, 0L);                 // guest_phys_addr (slot 0, flags 0)
            region.set(JAVA_LONG, 16, memoryBytes);        // memory_size
            region.set(JAVA_LONG, 24, ram.address());      // userspace_addr
            Libc.ioctl(vm, SET_USER_MEMORY_REGION, region, "KVM_SET_USER_MEMORY_REGION");
            GuestMemory memory = new GuestMemory(List.of(new MemoryRegion(0, ram)), 4096, () -> { });
            memory.write(guest.loadAddress(), guest.code());
            BootState.X86LongMode boot = LongModeSetup.write(memory, guest.entryAddress(), 0,
                    LongModeSetup.Privilege.USER);

            vcpu = Libc.ioctl(vm, CREATE_VCPU, 0, "KVM_CREATE_VCPU");
            run = Libc.mmap(MemorySegment.NULL, vcpuMmapSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED,
                    vcpu, 0);
            Libc.ioctl(vcpu, SET_CPUID2, cpuid, "KVM_SET_CPUID2");
            setUserLongMode(a, vcpu, boot);

            while (true) {
                Libc.ioctl(vcpu, RUN, 0, "KVM_RUN");
                int reason = run.get(JAVA_INT, 8);
                if (reason != EXIT_IO) {
                    throw new IllegalStateException("raw KVM: unexpected exit reason " + reason);
                }
                boolean out = run.get(JAVA_BYTE, 32) == 1;
                int port = Short.toUnsignedInt(run.get(JAVA_SHORT, 34));
                long data = run.get(JAVA_LONG, 40);
                if (out && port == COM1) {
                    firstOutputAt = System.nanoTime();
                    return Byte.toUnsignedInt(run.get(JAVA_BYTE, data));
                }
                if (!out) {
                    run.set(JAVA_BYTE, data, port == COM1_LSR ? LSR_THRE : (byte) 0xff);
                }
            }
        } finally {
            if (run != null) {
                Libc.munmap(run);
            }
            if (vcpu >= 0) {
                Libc.close(vcpu);
            }
            Libc.close(vm);
            if (ram != null) {
                Libc.munmap(ram);
            }
        }
    }

    /** Flat 64-bit user segments, paging on, IOPL 3: the state Ignition gives freestanding guests. */
    private static void setUserLongMode(Arena a, int vcpu, BootState.X86LongMode boot) {
        MemorySegment sregs = a.allocate(312, 8);
        Libc.ioctl(vcpu, GET_SREGS, sregs, "KVM_GET_SREGS");
        // kvm_segment (24 bytes) for cs, ds, es, fs, gs, ss: base, limit, selector, type, present, dpl, db, s, l, g
        for (int i = 0; i < 6; i++) {
            boolean code = i == 0;
            long s = 24L * i;
            sregs.set(JAVA_LONG, s, 0L);
            sregs.set(JAVA_INT, s + 8, 0xffff_ffff);
            sregs.set(JAVA_SHORT, s + 12, (short) (code ? LongModeSetup.USER_CS : LongModeSetup.USER_DS));
            sregs.set(JAVA_BYTE, s + 14, (byte) (code ? 0xb : 0x3));
            sregs.set(JAVA_BYTE, s + 15, (byte) 1);
            sregs.set(JAVA_BYTE, s + 16, (byte) 3);
            sregs.set(JAVA_BYTE, s + 17, (byte) (code ? 0 : 1));
            sregs.set(JAVA_BYTE, s + 18, (byte) 1);
            sregs.set(JAVA_BYTE, s + 19, (byte) (code ? 1 : 0));
            sregs.set(JAVA_BYTE, s + 20, (byte) 1);
        }
        sregs.set(JAVA_LONG, 192, boot.gdtBase());
        sregs.set(JAVA_SHORT, 200, (short) LongModeSetup.GDT_LIMIT);
        sregs.set(JAVA_LONG, 208, boot.idtBase());
        sregs.set(JAVA_SHORT, 216, (short) LongModeSetup.IDT_LIMIT);
        sregs.set(JAVA_LONG, 224, sregs.get(JAVA_LONG, 224) | 0x8000_0001L); // cr0: PG | PE
        sregs.set(JAVA_LONG, 240, boot.cr3());
        sregs.set(JAVA_LONG, 248, sregs.get(JAVA_LONG, 248) | 0x20);          // cr4: PAE
        sregs.set(JAVA_LONG, 264, sregs.get(JAVA_LONG, 264) | 0x500);         // efer: LME | LMA
        Libc.ioctl(vcpu, SET_SREGS, sregs, "KVM_SET_SREGS");
        MemorySegment regs = a.allocate(144, 8);
        regs.set(JAVA_LONG, 48, boot.rsp());
        regs.set(JAVA_LONG, 128, boot.rip());
        regs.set(JAVA_LONG, 136, 0x3002L); // rflags: reserved bit 1, IOPL 3
        Libc.ioctl(vcpu, SET_REGS, regs, "KVM_SET_REGS");
    }

    @Override
    public void close() {
        Libc.close(kvmFd);
        arena.close();
    }
}
