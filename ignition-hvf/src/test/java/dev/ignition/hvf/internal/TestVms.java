package dev.ignition.hvf.internal;

import dev.ignition.internal.arm64.Arm64Layout;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.spi.BootState;
import dev.ignition.spi.VmConfig;
import java.lang.foreign.Arena;
import java.util.List;

/** Guest memory and VMs over {@link FakeHvf} for tests. */
final class TestVms {
    static final long RAM = Arm64Layout.RAM_BASE;
    static final long RAM_SIZE = 1 << 20;
    static final long ENTRY = RAM + 0x20_0000 - 0x10_0000;

    private TestVms() {}

    static GuestMemory memory(long size) {
        Arena arena = Arena.ofShared();
        return new GuestMemory(List.of(new MemoryRegion(RAM, arena.allocate(size, HvfVm.PAGE))), (int) HvfVm.PAGE,
                arena::close);
    }

    static HvfVm vm(FakeHvf fake, GuestMemory mem, int vcpus, boolean track) {
        return new HvfVm(fake, new VmConfig(mem, vcpus, track), () -> {});
    }

    static BootState.Arm64 boot() {
        return new BootState.Arm64(ENTRY, RAM + 0x8_0000);
    }

    // ESR builders (Linux esr.h positions).
    static long dabt(boolean isv, int size, boolean sse, int srt, boolean sf, boolean write, int dfsc) {
        long iss = (isv ? 1L << 24 : 0) | (long) Integer.numberOfTrailingZeros(size) << 22 | (sse ? 1L << 21 : 0)
                | (long) srt << 16 | (sf ? 1L << 15 : 0) | (write ? 1L << 6 : 0) | dfsc;
        return 0x24L << 26 | 1L << 25 | iss;
    }

    static long hvc(int imm) {
        return 0x16L << 26 | 1L << 25 | imm;
    }

    static long smc() {
        return 0x17L << 26 | 1L << 25;
    }

    static long wfi() {
        return 0x01L << 26 | 1L << 25;
    }

    static long sysTrap(boolean read, int rt) {
        // MRS Xt, PMCR_EL0: op0=3 op1=3 CRn=9 CRm=12 op2=0
        return 0x18L << 26 | 1L << 25 | 3L << 20 | 0L << 17 | 3L << 14 | 9L << 10 | (long) rt << 5 | 12L << 1
                | (read ? 1 : 0);
    }
}
