package dev.ignition.memory;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * One contiguous range of guest-physical memory and the host mapping behind it.
 *
 * @param guestAddress guest-physical address of the first byte (page aligned)
 * @param segment the host mapping; its size is the region's size
 */
public record MemoryRegion(long guestAddress, MemorySegment segment) {
    public MemoryRegion {
        Objects.requireNonNull(segment, "segment");
        if (guestAddress < 0) {
            throw new IllegalArgumentException("negative guest address " + guestAddress);
        }
    }

    public long size() {
        return segment.byteSize();
    }

    /** One past the last guest-physical address of the region. */
    public long end() {
        return guestAddress + segment.byteSize();
    }

    public boolean contains(long address, long length) {
        return address >= guestAddress && length >= 0 && address - guestAddress <= size() - length;
    }
}
