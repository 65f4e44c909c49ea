package dev.ignition.internal.x86.linux;

import dev.ignition.guest.LinuxBootException;
import dev.ignition.internal.x86.X86Layout;
import dev.ignition.memory.MemoryRegion;
import java.util.ArrayList;
import java.util.List;

/** The BIOS-style memory map Linux reads from the zero page. */
public final class E820 {
    public static final int RAM = 1;
    public static final int RESERVED = 2;
    /** Size of one {@code struct boot_e820_entry}: u64 addr, u64 size, u32 type, packed. */
    public static final int ENTRY_SIZE = 20;
    /** E820_MAX_ENTRIES_ZEROPAGE. */
    public static final int MAX_ENTRIES = 128;
    /** Base memory ends where the (here unused) EBDA would start; the MP table lives there. */
    public static final long EBDA_START = 0x9_fc00;
    public static final long HIMEM_START = 0x10_0000;

    /** One map entry: {@code [address, address + size)} of {@code type}. */
    public record Entry(long address, long size, int type) {}

    private E820() {}

    /**
     * The map for guest RAM {@code regions}: base memory below the EBDA, the EBDA/BIOS area
     * {@code [0x9FC00, 1 MiB)} reserved (MP table), then every region from 1 MiB up as RAM.
     *
     * @throws LinuxBootException if RAM does not start at 0 and reach past 1 MiB
     */
    public static List<Entry> forRegions(List<MemoryRegion> regions) {
        return forRanges(regions.stream().map(r -> new X86Layout.Range(r.guestAddress(), r.size())).toList());
    }

    /** As {@link #forRegions}, for RAM ranges sorted by address. */
    public static List<Entry> forRanges(List<X86Layout.Range> ranges) {
        if (ranges.isEmpty() || ranges.getFirst().start() != 0 || ranges.getFirst().size() <= HIMEM_START) {
            throw new LinuxBootException("a Linux guest needs RAM from address 0 past 1 MiB; the VM's RAM ranges are "
                    + ranges.stream().map(r -> "[0x" + Long.toHexString(r.start()) + ", 0x"
                            + Long.toHexString(r.start() + r.size()) + ")").toList());
        }
        List<Entry> out = new ArrayList<>();
        out.add(new Entry(0, EBDA_START, RAM));
        out.add(new Entry(EBDA_START, HIMEM_START - EBDA_START, RESERVED));
        for (X86Layout.Range r : ranges) {
            long end = r.start() + r.size();
            long start = Math.max(r.start(), HIMEM_START);
            if (end > start) {
                out.add(new Entry(start, end - start, RAM));
            }
        }
        if (out.size() > MAX_ENTRIES) {
            throw new LinuxBootException("too many RAM regions for the zero page's e820 table: " + out.size());
        }
        return out;
    }
}
