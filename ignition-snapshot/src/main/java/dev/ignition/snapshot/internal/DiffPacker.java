package dev.ignition.snapshot.internal;

import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.DirtyPages;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Turns dirty bitmaps into a page index and gathers the listed pages into a packed image. Runs
 * never cross a region boundary, so each run is one contiguous slice of one region's mapping.
 */
public final class DiffPacker {
    private DiffPacker() {}

    /**
     * The index of the pages set in {@code dirty}.
     *
     * @throws IllegalArgumentException if the bitmaps do not match the layout
     */
    public static PageRuns runs(Layout layout, DirtyPages dirty) {
        List<long[]> maps = dirty.bitmaps();
        if (maps.size() != layout.regions().size()) {
            throw new IllegalArgumentException("the dirty set has " + maps.size() + " bitmaps but memory has "
                    + layout.regions().size() + " regions");
        }
        PageRuns runs = new PageRuns(64);
        for (int r = 0; r < maps.size(); r++) {
            long[] bits = maps.get(r);
            int pages = layout.pagesIn(r);
            int base = layout.firstPage(r);
            for (int w = 0; w < bits.length; w++) {
                long word = bits[w];
                while (word != 0) {
                    int b = Long.numberOfTrailingZeros(word);
                    long page = (long) w * 64 + b;
                    if (page >= pages) {
                        throw new IllegalArgumentException("dirty bitmap " + r + " marks page " + page
                                + ", past the region's " + pages + " pages");
                    }
                    int run = Long.numberOfTrailingZeros(~(word >>> b));
                    int len = b + run >= 64 ? 64 - b : run;
                    appendRun(runs, base + (int) page, len, base);
                    word = b + len >= 64 ? 0 : word & (-1L << (b + len));
                }
            }
        }
        return runs;
    }

    private static void appendRun(PageRuns runs, int start, int len, int regionBase) {
        int n = runs.runCount();
        // Merge with the previous run only inside one region, so a run is one slice of one region.
        if (n > 0 && runs.start(n - 1) + runs.count(n - 1) == start && runs.start(n - 1) >= regionBase) {
            runs.extendLast(len);
        } else {
            runs.addRun(start, len);
        }
    }

    /** Receives the pages of an index as contiguous source slices, in index order. */
    @FunctionalInterface
    public interface SliceSink<E extends Exception> {
        void accept(MemorySegment slice) throws E;
    }

    /** Calls {@code sink} with one slice of guest memory per run, in order. */
    public static <E extends Exception> void forEachSlice(GuestMemory memory, Layout layout, PageRuns runs,
            SliceSink<E> sink) throws E {
        var regions = memory.regions();
        int region = 0;
        long ps = layout.pageSize();
        for (int i = 0; i < runs.runCount(); i++) {
            int start = runs.start(i);
            while (start >= layout.firstPage(region) + layout.pagesIn(region)) {
                region++;
            }
            long off = (start - (long) layout.firstPage(region)) * ps;
            sink.accept(regions.get(region).segment().asSlice(off, runs.count(i) * ps));
        }
    }

    /** Gathers the pages of {@code runs} into {@code dest}, packed; returns the bytes written. */
    public static long pack(GuestMemory memory, Layout layout, PageRuns runs, MemorySegment dest) {
        long[] pos = {0};
        forEachSlice(memory, layout, runs, slice -> {
            MemorySegment.copy(slice, 0, dest, pos[0], slice.byteSize());
            pos[0] += slice.byteSize();
        });
        return pos[0];
    }
}
