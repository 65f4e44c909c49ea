package dev.ignition.snapshot.internal;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A diff layer's page index: sorted, non-overlapping runs of layout page numbers. Encoded as
 * little-endian {@code (u32 firstPage, u32 pageCount)} pairs; the packed image holds the runs'
 * pages in the same order.
 */
public final class PageRuns {
    public static final int ENTRY_BYTES = 8;

    private int[] starts;
    private int[] counts;
    private int size;
    private long pages;

    public PageRuns(int capacity) {
        starts = new int[Math.max(4, capacity)];
        counts = new int[Math.max(4, capacity)];
    }

    /** Appends page {@code page}, extending the last run when contiguous; pages must ascend. */
    public void addPage(int page) {
        if (size > 0 && starts[size - 1] + counts[size - 1] == page) {
            counts[size - 1]++;
        } else {
            addRun(page, 1);
            return;
        }
        pages++;
    }

    /** Appends a run; callers keep runs ascending and non-overlapping. */
    public void addRun(int start, int count) {
        if (size == starts.length) {
            starts = Arrays.copyOf(starts, size * 2);
            counts = Arrays.copyOf(counts, size * 2);
        }
        starts[size] = start;
        counts[size] = count;
        size++;
        pages += count;
    }

    /** Extends the last run by {@code more} pages. */
    public void extendLast(int more) {
        counts[size - 1] += more;
        pages += more;
    }

    public int runCount() {
        return size;
    }

    public int start(int i) {
        return starts[i];
    }

    public int count(int i) {
        return counts[i];
    }

    /** Total pages over all runs. */
    public long pageCount() {
        return pages;
    }

    public byte[] encode() {
        ByteBuffer b = ByteBuffer.allocate(size * ENTRY_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < size; i++) {
            b.putInt(starts[i]).putInt(counts[i]);
        }
        return b.array();
    }

    /**
     * Decodes and validates an index against a layout of {@code totalPages} pages.
     *
     * @throws IllegalArgumentException naming the first bad entry
     */
    public static PageRuns decode(byte[] data, int totalPages) {
        if (data.length % ENTRY_BYTES != 0) {
            throw new IllegalArgumentException("page index is " + data.length + " bytes, not a multiple of "
                    + ENTRY_BYTES);
        }
        int n = data.length / ENTRY_BYTES;
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        PageRuns runs = new PageRuns(n);
        long prevEnd = 0;
        for (int i = 0; i < n; i++) {
            long start = Integer.toUnsignedLong(b.getInt());
            long count = Integer.toUnsignedLong(b.getInt());
            if (count == 0) {
                throw new IllegalArgumentException("page index entry " + i + " (first page " + start + ") is empty");
            }
            if (start < prevEnd) {
                throw new IllegalArgumentException("page index entry " + i + " (first page " + start
                        + ") is unsorted or overlaps the previous entry, which ends at page " + prevEnd);
            }
            if (start + count > totalPages) {
                throw new IllegalArgumentException("page index entry " + i + " (pages " + start + ".."
                        + (start + count - 1) + ") is out of range: the layout has " + totalPages + " pages");
            }
            runs.addRun((int) start, (int) count);
            prevEnd = start + count;
        }
        return runs;
    }
}
