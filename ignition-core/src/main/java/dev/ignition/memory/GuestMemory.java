package dev.ignition.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Guest-physical memory: a sorted set of non-overlapping {@link MemoryRegion}s.
 *
 * <p>Every accessor checks that the whole range lies inside one region and throws
 * {@link GuestMemoryException} otherwise, so addresses taken from a guest can be passed in as
 * they are. Writes made through this class are recorded in a host-side dirty bitmap (hypervisor
 * dirty logs only see vCPU writes), which {@link #drainHostDirty(int)} hands to diff snapshots.
 *
 * <p>Thread safety: accessors may be called from any thread; the guest writes concurrently.
 */
public final class GuestMemory implements AutoCloseable {
    private final List<MemoryRegion> regions;
    private final int pageSize;
    private final AtomicLongArray[] hostDirty;
    private final Runnable release;
    private volatile boolean closed;

    /**
     * @param regions the regions, in any order; they must not overlap and must be page aligned
     * @param pageSize the host page size: dirty tracking and snapshots work in these units
     * @param release unmaps the regions; called once by {@link #close()}
     */
    public GuestMemory(List<MemoryRegion> regions, int pageSize, Runnable release) {
        if (pageSize <= 0 || Integer.bitCount(pageSize) != 1) {
            throw new IllegalArgumentException("page size must be a power of two: " + pageSize);
        }
        List<MemoryRegion> sorted = new ArrayList<>(regions);
        sorted.sort(Comparator.comparingLong(MemoryRegion::guestAddress));
        for (int i = 0; i < sorted.size(); i++) {
            MemoryRegion r = sorted.get(i);
            if (r.guestAddress() % pageSize != 0 || r.size() % pageSize != 0 || r.size() == 0) {
                throw new IllegalArgumentException("region not page aligned: " + r);
            }
            if (i > 0 && sorted.get(i - 1).end() > r.guestAddress()) {
                throw new IllegalArgumentException("regions overlap at 0x" + Long.toHexString(r.guestAddress()));
            }
        }
        this.regions = List.copyOf(sorted);
        this.pageSize = pageSize;
        this.release = release;
        this.hostDirty = new AtomicLongArray[sorted.size()];
        for (int i = 0; i < sorted.size(); i++) {
            hostDirty[i] = new AtomicLongArray((int) ((pagesIn(sorted.get(i)) + 63) / 64));
        }
    }

    public List<MemoryRegion> regions() {
        return regions;
    }

    public int pageSize() {
        return pageSize;
    }

    /** Total bytes of RAM over all regions. */
    public long size() {
        long total = 0;
        for (MemoryRegion r : regions) {
            total += r.size();
        }
        return total;
    }

    public long pagesIn(MemoryRegion region) {
        return region.size() / pageSize;
    }

    /**
     * A view of {@code [address, address + length)}; writes through it are not recorded as host
     * dirty pages (call {@link #markDirty} for that).
     *
     * @throws GuestMemoryException if the range is not inside one region
     */
    public MemorySegment slice(long address, long length) {
        MemoryRegion r = regionFor(address, length);
        return r.segment().asSlice(address - r.guestAddress(), length);
    }

    public boolean contains(long address, long length) {
        return find(address, length) >= 0;
    }

    public byte readByte(long address) {
        return slice(address, 1).get(ValueLayout.JAVA_BYTE, 0);
    }

    public long readLong(long address) {
        return slice(address, 8).get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
    }

    public int readInt(long address) {
        return slice(address, 4).get(ValueLayout.JAVA_INT_UNALIGNED, 0);
    }

    public void read(long address, byte[] into) {
        MemorySegment.copy(slice(address, into.length), ValueLayout.JAVA_BYTE, 0, into, 0, into.length);
    }

    public byte[] read(long address, int length) {
        byte[] b = new byte[length];
        read(address, b);
        return b;
    }

    public void write(long address, byte[] data) {
        MemorySegment.copy(data, 0, slice(address, data.length), ValueLayout.JAVA_BYTE, 0, data.length);
        markDirty(address, data.length);
    }

    public void writeLong(long address, long value) {
        slice(address, 8).set(ValueLayout.JAVA_LONG_UNALIGNED, 0, value);
        markDirty(address, 8);
    }

    public void writeInt(long address, int value) {
        slice(address, 4).set(ValueLayout.JAVA_INT_UNALIGNED, 0, value);
        markDirty(address, 4);
    }

    public void writeByte(long address, byte value) {
        slice(address, 1).set(ValueLayout.JAVA_BYTE, 0, value);
        markDirty(address, 1);
    }

    /** Records that the host wrote {@code [address, address + length)} (device DMA, loaders). */
    public void markDirty(long address, long length) {
        if (length <= 0) {
            return;
        }
        int idx = find(address, length);
        if (idx < 0) {
            throw outOfRange(address, length);
        }
        MemoryRegion r = regions.get(idx);
        long first = (address - r.guestAddress()) / pageSize;
        long last = (address - r.guestAddress() + length - 1) / pageSize;
        AtomicLongArray bits = hostDirty[idx];
        for (long p = first; p <= last; p++) {
            int word = (int) (p >>> 6);
            long bit = 1L << (p & 63);
            if ((bits.get(word) & bit) == 0) {
                bits.getAndUpdate(word, w -> w | bit);
            }
        }
    }

    /**
     * Returns and clears the host-dirty bitmap of region {@code regionIndex}: bit {@code j} of word
     * {@code i} is page {@code 64 i + j} of the region.
     */
    public long[] drainHostDirty(int regionIndex) {
        AtomicLongArray bits = hostDirty[regionIndex];
        long[] out = new long[bits.length()];
        for (int i = 0; i < out.length; i++) {
            out[i] = bits.getAndSet(i, 0);
        }
        return out;
    }

    /** Unmaps the memory. Idempotent; the VM must no longer run. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            release.run();
        }
    }

    private MemoryRegion regionFor(long address, long length) {
        int idx = find(address, length);
        if (idx < 0) {
            throw outOfRange(address, length);
        }
        return regions.get(idx);
    }

    private int find(long address, long length) {
        if (closed) {
            throw new IllegalStateException("guest memory is closed");
        }
        for (int i = 0; i < regions.size(); i++) {
            if (regions.get(i).contains(address, length)) {
                return i;
            }
        }
        return -1;
    }

    private static GuestMemoryException outOfRange(long address, long length) {
        return new GuestMemoryException("guest range [0x" + Long.toHexString(address) + ", +" + length
                + ") is not inside guest RAM");
    }
}
