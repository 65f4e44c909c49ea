package dev.ignition.internal.x86;

import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.BootState;

/**
 * Writes what a 64-bit entry needs into guest memory: a flat GDT and identity-mapped page tables
 * for the first 4 GiB (2 MiB pages), as Linux's 64-bit boot protocol and Firecracker lay them out.
 */
public final class LongModeSetup {
    /** GDT entries: null, code (L=1), data, TSS — selectors 0x08, 0x10, 0x18. */
    static final long[] GDT = {0L, 0x00af_9b00_0000_ffffL, 0x00cf_9300_0000_ffffL, 0x008f_8b00_0000_ffffL};

    private static final long PRESENT_RW = 0x3;
    private static final long PAGE_SIZE_2M = 0x80;

    private LongModeSetup() {}

    /** Writes the GDT, an empty IDT and the page tables; returns the boot state for {@code entry}. */
    public static BootState.X86LongMode write(GuestMemory memory, long entry, long rsi) {
        for (int i = 0; i < GDT.length; i++) {
            memory.writeLong(X86Layout.GDT_ADDR + 8L * i, GDT[i]);
        }
        memory.writeLong(X86Layout.IDT_ADDR, 0);
        memory.writeLong(X86Layout.PML4_ADDR, X86Layout.PDPT_ADDR | PRESENT_RW);
        int gigabytes = (int) (X86Layout.IDENTITY_MAPPED >>> 30);
        for (int g = 0; g < gigabytes; g++) {
            long pd = X86Layout.PD_ADDR + 0x1000L * g;
            memory.writeLong(X86Layout.PDPT_ADDR + 8L * g, pd | PRESENT_RW);
            byte[] entries = new byte[4096];
            for (int i = 0; i < 512; i++) {
                long value = ((long) g << 30) + ((long) i << 21) | PRESENT_RW | PAGE_SIZE_2M;
                for (int b = 0; b < 8; b++) {
                    entries[8 * i + b] = (byte) (value >>> (8 * b));
                }
            }
            memory.write(pd, entries);
        }
        return new BootState.X86LongMode(entry, X86Layout.BOOT_STACK_POINTER, rsi, X86Layout.PML4_ADDR,
                X86Layout.GDT_ADDR, X86Layout.IDT_ADDR);
    }
}
