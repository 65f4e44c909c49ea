package dev.ignition.internal.x86;

import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.BootState;

/**
 * Writes what a 64-bit entry needs into guest memory: a flat GDT and identity-mapped page tables
 * for the first 4 GiB (2 MiB pages), as Linux's 64-bit boot protocol and Firecracker lay them out.
 *
 * <p>Linux kernels are entered at CPL 0. Freestanding guests are entered at CPL 3 with IOPL 3:
 * they need no privileged instruction (port I/O stays legal through IOPL), and on hypervisors that
 * run guest-supervisor code through an instruction emulator (KVM's PVM flavour) user-mode code runs
 * natively, thousands of times faster. Hence user descriptors in the GDT and the U/S bit in every
 * level of the identity map when the entry privilege is {@link Privilege#USER}.
 */
public final class LongModeSetup {
    /** The privilege the boot vCPU starts at. */
    public enum Privilege {
        /** CPL 0: Linux's boot protocol. */
        KERNEL(0),
        /** CPL 3 with IOPL 3: freestanding guests. */
        USER(3);

        private final int cpl;

        Privilege(int cpl) {
            this.cpl = cpl;
        }

        public int cpl() {
            return cpl;
        }
    }

    /** Kernel code (L=1, DPL 0). */
    public static final int KERNEL_CS = 0x08;
    /** Kernel data (DPL 0). */
    public static final int KERNEL_DS = 0x10;
    /** The TSS (a 16-byte system descriptor: entries 3 and 4). */
    public static final int TSS_SELECTOR = 0x18;
    /** User data (DPL 3), selector with RPL 3; Linux's {@code __USER_DS}. */
    public static final int USER_DS = 0x2b;
    /** User code (L=1, DPL 3), selector with RPL 3; Linux's {@code __USER_CS}. */
    public static final int USER_CS = 0x33;

    /**
     * GDT entries: null, kernel code, kernel data, TSS (low and high half), user data, user code.
     * Access bytes: 0x9b/0x93 present DPL 0 code/data, 0x8b busy TSS, 0xf3/0xfb present DPL 3 data/code.
     */
    static final long[] GDT = {
        0L,
        0x00af_9b00_0000_ffffL,
        0x00cf_9300_0000_ffffL,
        0x008f_8b00_0000_ffffL,
        0L,
        0x00cf_f300_0000_ffffL,
        0x00af_fb00_0000_ffffL,
    };
    /** GDTR.limit: the table's size in bytes less one. */
    public static final int GDT_LIMIT = GDT.length * 8 - 1;
    /** IDTR.limit of the empty IDT: no vector is valid, so any exception ends in a triple fault. */
    public static final int IDT_LIMIT = 7;

    private static final long PRESENT = 0x1;
    private static final long WRITABLE = 0x2;
    private static final long USER_ACCESSIBLE = 0x4;
    private static final long PAGE_SIZE_2M = 0x80;

    private LongModeSetup() {}

    /**
     * Writes the GDT, an empty IDT and the page tables; returns the boot state for {@code entry} at
     * {@code privilege}.
     */
    public static BootState.X86LongMode write(GuestMemory memory, long entry, long rsi, Privilege privilege) {
        for (int i = 0; i < GDT.length; i++) {
            memory.writeLong(X86Layout.GDT_ADDR + 8L * i, GDT[i]);
        }
        memory.writeLong(X86Layout.IDT_ADDR, 0);
        long flags = PRESENT | WRITABLE | (privilege == Privilege.USER ? USER_ACCESSIBLE : 0);
        memory.writeLong(X86Layout.PML4_ADDR, X86Layout.PDPT_ADDR | flags);
        int gigabytes = (int) (X86Layout.IDENTITY_MAPPED >>> 30);
        for (int g = 0; g < gigabytes; g++) {
            long pd = X86Layout.PD_ADDR + 0x1000L * g;
            memory.writeLong(X86Layout.PDPT_ADDR + 8L * g, pd | flags);
            byte[] entries = new byte[4096];
            for (int i = 0; i < 512; i++) {
                long value = ((long) g << 30) + ((long) i << 21) | flags | PAGE_SIZE_2M;
                for (int b = 0; b < 8; b++) {
                    entries[8 * i + b] = (byte) (value >>> (8 * b));
                }
            }
            memory.write(pd, entries);
        }
        return new BootState.X86LongMode(entry, X86Layout.BOOT_STACK_POINTER, rsi, X86Layout.PML4_ADDR,
                X86Layout.GDT_ADDR, X86Layout.IDT_ADDR, privilege.cpl());
    }
}
