package dev.ignition.snapshot.internal;

import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.snapshot.LayoutRegion;
import java.util.ArrayList;
import java.util.List;

/**
 * A validated memory layout: regions sorted by guest address, page aligned, non-overlapping.
 * Images address memory by "layout offset": the regions concatenated in guest-address order.
 */
public final class Layout {
    /** More pages than this would overflow int page numbers in indexes and bitmaps. */
    public static final long MAX_PAGES = Integer.MAX_VALUE;
    public static final int MAX_REGIONS = 1024;

    private final List<LayoutRegion> regions;
    private final int pageSize;
    private final long[] offsets;
    private final long totalSize;

    private Layout(List<LayoutRegion> regions, int pageSize) {
        this.regions = List.copyOf(regions);
        this.pageSize = pageSize;
        this.offsets = new long[regions.size() + 1];
        for (int i = 0; i < regions.size(); i++) {
            offsets[i + 1] = offsets[i] + regions.get(i).size();
        }
        this.totalSize = offsets[regions.size()];
    }

    /**
     * Validates {@code regions} against {@code pageSize}.
     *
     * @return null when valid, else the problem
     */
    public static String problem(List<LayoutRegion> regions, int pageSize) {
        if (regions.isEmpty()) {
            return "memory layout has no regions";
        }
        if (regions.size() > MAX_REGIONS) {
            return "memory layout has " + regions.size() + " regions, more than " + MAX_REGIONS;
        }
        long prevEnd = 0;
        long total = 0;
        for (int i = 0; i < regions.size(); i++) {
            LayoutRegion r = regions.get(i);
            if (r.guestAddress() < 0 || r.size() <= 0) {
                return "layout region " + i + " " + r + " has a negative address or non-positive size";
            }
            if (r.guestAddress() % pageSize != 0 || r.size() % pageSize != 0) {
                return "layout region " + i + " " + r + " is not aligned to the page size " + pageSize;
            }
            if (r.guestAddress() > Long.MAX_VALUE - r.size()) {
                return "layout region " + i + " " + r + " overflows the address space";
            }
            if (i > 0 && r.guestAddress() < prevEnd) {
                return "layout region " + i + " " + r + " overlaps or precedes the previous region";
            }
            prevEnd = r.guestAddress() + r.size();
            total += r.size() / pageSize;
            if (total > MAX_PAGES) {
                return "memory layout holds more than " + MAX_PAGES + " pages";
            }
        }
        return null;
    }

    public static Layout of(List<LayoutRegion> regions, int pageSize) {
        String p = problem(regions, pageSize);
        if (p != null) {
            throw new IllegalArgumentException(p);
        }
        return new Layout(regions, pageSize);
    }

    public static Layout of(GuestMemory memory) {
        List<LayoutRegion> rs = new ArrayList<>();
        for (MemoryRegion r : memory.regions()) {
            rs.add(new LayoutRegion(r.guestAddress(), r.size()));
        }
        return of(rs, memory.pageSize());
    }

    public List<LayoutRegion> regions() {
        return regions;
    }

    public int pageSize() {
        return pageSize;
    }

    /** Layout offset of region {@code i}'s first byte. */
    public long offset(int i) {
        return offsets[i];
    }

    /** Layout page number of region {@code i}'s first page. */
    public int firstPage(int i) {
        return (int) (offsets[i] / pageSize);
    }

    public int pagesIn(int i) {
        return (int) (regions.get(i).size() / pageSize);
    }

    public long totalSize() {
        return totalSize;
    }

    public int totalPages() {
        return (int) (totalSize / pageSize);
    }

    public boolean sameAs(Layout other) {
        return pageSize == other.pageSize && regions.equals(other.regions);
    }

    @Override
    public String toString() {
        return regions + " with " + pageSize + "-byte pages";
    }
}
