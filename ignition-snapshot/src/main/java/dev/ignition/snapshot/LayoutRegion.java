package dev.ignition.snapshot;

/**
 * One region of a layer's guest memory layout.
 *
 * @param guestAddress guest-physical address of the region's first byte (page aligned)
 * @param size bytes (a positive multiple of the page size)
 */
public record LayoutRegion(long guestAddress, long size) {
    @Override
    public String toString() {
        return "[0x" + Long.toHexString(guestAddress) + ", +0x" + Long.toHexString(size) + ")";
    }
}
