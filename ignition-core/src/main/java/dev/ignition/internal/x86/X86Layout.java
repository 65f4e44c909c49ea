package dev.ignition.internal.x86;

import java.util.ArrayList;
import java.util.List;

/**
 * The guest-physical memory map of an Ignition x86_64 VM (Firecracker-compatible): RAM from 0 up
 * to 3 GiB, the 32-bit MMIO gap {@code [3 GiB, 4 GiB)}, and any further RAM from 4 GiB.
 */
public final class X86Layout {
    public static final long GDT_ADDR = 0x500;
    /** After the seven GDT entries (0x500–0x537). */
    public static final long IDT_ADDR = 0x540;
    public static final long ZERO_PAGE_ADDR = 0x7000;
    public static final long BOOT_STACK_POINTER = 0x8ff0;
    public static final long PML4_ADDR = 0x9000;
    public static final long PDPT_ADDR = 0xa000;
    /** Four page directories, one per GiB of the identity map. */
    public static final long PD_ADDR = 0xb000;
    public static final long CMDLINE_ADDR = 0x20000;
    public static final long HIMEM_START = 0x100000;
    public static final long MMIO_GAP_START = 0xc000_0000L;
    public static final long MMIO_GAP_END = 0x1_0000_0000L;
    /** The boot-timer device: one byte at this MMIO address. */
    public static final long BOOT_TIMER_ADDR = MMIO_GAP_START;
    /** First virtio-mmio window; each device takes 0x1000. */
    public static final long VIRTIO_MMIO_START = MMIO_GAP_START + 0x1000;
    public static final long IOAPIC_ADDR = 0xfec0_0000L;
    public static final long LAPIC_ADDR = 0xfee0_0000L;
    public static final long IDENTITY_MAP_ADDR = 0xfffb_c000L;
    public static final long TSS_ADDR = 0xfffb_d000L;
    /** How much the boot page tables identity-map. */
    public static final long IDENTITY_MAPPED = 4L << 30;

    private X86Layout() {}

    /** A RAM range: {@code [start, start + size)}. */
    public record Range(long start, long size) {}

    /** Where {@code ramBytes} of RAM go: below the MMIO gap first, the rest above 4 GiB. */
    public static List<Range> ramRanges(long ramBytes) {
        List<Range> out = new ArrayList<>(2);
        long low = Math.min(ramBytes, MMIO_GAP_START);
        out.add(new Range(0, low));
        if (ramBytes > low) {
            out.add(new Range(MMIO_GAP_END, ramBytes - low));
        }
        return out;
    }
}
