package dev.ignition.internal.x86;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.internal.x86.LongModeSetup.Privilege;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.spi.BootState;
import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The bytes of the boot GDT and identity map, decoded field by field as the CPU reads them. */
class LongModeSetupTest {
    private static final long MIB = 1 << 20;

    private static GuestMemory memory() {
        Arena arena = Arena.ofShared();
        return new GuestMemory(List.of(new MemoryRegion(0, arena.allocate(4 * MIB, 4096))), 4096, arena::close);
    }

    /** One decoded 8-byte segment descriptor. */
    record Descriptor(long base, long limit, int type, boolean system, int dpl, boolean present, boolean longMode,
            boolean db, boolean granularity) {
        static Descriptor decode(long d) {
            long base = ((d >>> 16) & 0xff_ffffL) | (((d >>> 56) & 0xff) << 24);
            long limit = (d & 0xffff) | (((d >>> 48) & 0xf) << 16);
            int access = (int) ((d >>> 40) & 0xff);
            int flags = (int) ((d >>> 52) & 0xf);
            return new Descriptor(base, limit, access & 0xf, (access & 0x10) == 0, (access >>> 5) & 3,
                    (access & 0x80) != 0, (flags & 0x2) != 0, (flags & 0x4) != 0, (flags & 0x8) != 0);
        }
    }

    private static Descriptor gdtEntry(GuestMemory m, int selector) {
        return Descriptor.decode(m.readLong(X86Layout.GDT_ADDR + (selector & ~7)));
    }

    @Test
    void gdtHasFlatKernelAndUserSegmentsWithTheirPrivilege() {
        try (GuestMemory m = memory()) {
            LongModeSetup.write(m, 0x10_0000, 0, Privilege.USER);
            Descriptor kcode = gdtEntry(m, LongModeSetup.KERNEL_CS);
            Descriptor kdata = gdtEntry(m, LongModeSetup.KERNEL_DS);
            Descriptor ucode = gdtEntry(m, LongModeSetup.USER_CS);
            Descriptor udata = gdtEntry(m, LongModeSetup.USER_DS);
            // 64-bit code: L=1, D=0; execute/read; data: read/write, D/B=1; all flat and present.
            assertThat(kcode).isEqualTo(new Descriptor(0, 0xfffff, 0xb, false, 0, true, true, false, true));
            assertThat(ucode).isEqualTo(new Descriptor(0, 0xfffff, 0xb, false, 3, true, true, false, true));
            assertThat(kdata).isEqualTo(new Descriptor(0, 0xfffff, 0x3, false, 0, true, false, true, true));
            assertThat(udata).isEqualTo(new Descriptor(0, 0xfffff, 0x3, false, 3, true, false, true, true));
            // Selectors carry the RPL of their descriptor's DPL.
            assertThat(LongModeSetup.USER_CS & 3).isEqualTo(3);
            assertThat(LongModeSetup.USER_DS & 3).isEqualTo(3);
            assertThat(LongModeSetup.KERNEL_CS & 3).isZero();
            // The TSS is a 16-byte system descriptor (busy 64-bit TSS): its high half is zero.
            Descriptor tss = gdtEntry(m, LongModeSetup.TSS_SELECTOR);
            assertThat(tss.system()).isTrue();
            assertThat(tss.type()).isEqualTo(0xb);
            assertThat(m.readLong(X86Layout.GDT_ADDR + LongModeSetup.TSS_SELECTOR + 8)).isZero();
            assertThat(m.readLong(X86Layout.GDT_ADDR)).isZero();
            // The whole table fits below the IDT, and GDTR.limit covers every entry.
            assertThat(X86Layout.GDT_ADDR + LongModeSetup.GDT_LIMIT + 1).isLessThanOrEqualTo(X86Layout.IDT_ADDR);
            assertThat(LongModeSetup.GDT_LIMIT + 1).isEqualTo(7 * 8);
            assertThat(m.readLong(X86Layout.IDT_ADDR)).isZero();
        }
    }

    @Test
    void userEntryMapsEveryLevelUserAccessibleAndWritable() {
        try (GuestMemory m = memory()) {
            BootState.X86LongMode boot = LongModeSetup.write(m, 0x10_0000, 0, Privilege.USER);
            assertThat(boot.cpl()).isEqualTo(3);
            assertIdentityMap(m, boot, 0x7);
        }
    }

    @Test
    void kernelEntryKeepsSupervisorOnlyPagesAsLinuxExpects() {
        try (GuestMemory m = memory()) {
            BootState.X86LongMode boot = LongModeSetup.write(m, 0x20_0000, 0x7000, Privilege.KERNEL);
            assertThat(boot.cpl()).isZero();
            assertThat(boot.rip()).isEqualTo(0x20_0000);
            assertThat(boot.rsi()).isEqualTo(0x7000);
            assertIdentityMap(m, boot, 0x3);
        }
    }

    /** Walks the 4-level tables for a spread of addresses: each resolves to itself with exactly {@code flags}. */
    private static void assertIdentityMap(GuestMemory m, BootState.X86LongMode boot, long flags) {
        long[] addresses = {0, 0x10_0000, 0x1f_ffff, 0x20_0000, 0x3fff_ffffL, 0x4000_0000L, 0xc000_0000L,
            0xfee0_0000L, 0xffff_ffffL};
        for (long va : addresses) {
            long pml4e = m.readLong(boot.cr3() + 8 * ((va >>> 39) & 511));
            assertThat(pml4e & 0xfff).as("PML4E for 0x%x", va).isEqualTo(flags);
            long pdpte = m.readLong((pml4e & ~0xfffL) + 8 * ((va >>> 30) & 511));
            assertThat(pdpte & 0xfff).as("PDPTE for 0x%x", va).isEqualTo(flags);
            long pde = m.readLong((pdpte & ~0xfffL) + 8 * ((va >>> 21) & 511));
            assertThat(pde & 0xfff).as("PDE for 0x%x", va).isEqualTo(flags | 0x80);
            assertThat((pde & ~0x1f_ffffL) | (va & 0x1f_ffff)).as("translation of 0x%x", va).isEqualTo(va);
        }
    }

    @Test
    void bootStateRefusesAPrivilegeOtherThanZeroOrThree() {
        assertThatThrownBy(() -> new BootState.X86LongMode(0, 0, 0, 0, 0, 0, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cpl must be 0 or 3");
    }
}
