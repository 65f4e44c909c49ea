package dev.ignition.snapshot;

import dev.ignition.memory.GuestMemory;
import java.util.ArrayList;
import java.util.List;

/**
 * The pages written since a parent snapshot: one bitmap per memory region, in the order of
 * {@link GuestMemory#regions()}. Bit {@code j} of word {@code i} is page {@code 64 i + j} of the
 * region, which is what {@code KVM_GET_DIRTY_LOG} and {@link GuestMemory#drainHostDirty} return.
 *
 * <pre>{@code
 * DirtyPages dirty = DirtyPages.of(kvmLogs).union(DirtyPages.drainHost(memory));
 * store.writeDiff("after-login", "booted", memory, dirty, state);
 * }</pre>
 *
 * @param bitmaps one bitmap per region; a bitmap may be longer than needed but bits past the
 *     region's last page must be clear
 */
public record DirtyPages(List<long[]> bitmaps) {
    public DirtyPages {
        bitmaps = List.copyOf(bitmaps);
    }

    public static DirtyPages of(long[]... bitmaps) {
        return new DirtyPages(List.of(bitmaps));
    }

    /** Drains (returns and clears) the host-side dirty bitmaps of {@code memory}. */
    public static DirtyPages drainHost(GuestMemory memory) {
        List<long[]> out = new ArrayList<>();
        for (int i = 0; i < memory.regions().size(); i++) {
            out.add(memory.drainHostDirty(i));
        }
        return new DirtyPages(out);
    }

    /** Every page of {@code memory} marked dirty. */
    public static DirtyPages all(GuestMemory memory) {
        List<long[]> out = new ArrayList<>();
        for (var r : memory.regions()) {
            long pages = memory.pagesIn(r);
            long[] bits = new long[(int) ((pages + 63) / 64)];
            for (long p = 0; p < pages; p++) {
                bits[(int) (p >>> 6)] |= 1L << (p & 63);
            }
            out.add(bits);
        }
        return new DirtyPages(out);
    }

    /** The bitwise union of this set and {@code other} (for example KVM's log and the host's). */
    public DirtyPages union(DirtyPages other) {
        if (other.bitmaps.size() != bitmaps.size()) {
            throw new IllegalArgumentException("dirty sets cover " + bitmaps.size() + " and "
                    + other.bitmaps.size() + " regions");
        }
        List<long[]> out = new ArrayList<>();
        for (int i = 0; i < bitmaps.size(); i++) {
            long[] a = bitmaps.get(i);
            long[] b = other.bitmaps.get(i);
            long[] u = new long[Math.max(a.length, b.length)];
            for (int w = 0; w < u.length; w++) {
                u[w] = (w < a.length ? a[w] : 0) | (w < b.length ? b[w] : 0);
            }
            out.add(u);
        }
        return new DirtyPages(out);
    }

    /** Number of dirty pages. */
    public long count() {
        long n = 0;
        for (long[] bits : bitmaps) {
            for (long w : bits) {
                n += Long.bitCount(w);
            }
        }
        return n;
    }
}
