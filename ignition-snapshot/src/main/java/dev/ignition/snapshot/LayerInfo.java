package dev.ignition.snapshot;

import dev.ignition.device.Disk;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What a layer's (validated) manifest says about it.
 *
 * @param id the layer's id
 * @param kind full or diff
 * @param parent the parent's id; null for a full layer
 * @param formatVersion the format version the layer was written in
 * @param pageSize bytes per page
 * @param layout the guest memory layout
 * @param storedPages pages held by the layer's image (full: non-zero pages; diff: packed pages)
 * @param bytesOnDisk the sum of the logical sizes of the layer's files
 * @param stateNames the names of the state blobs, sorted
 * @param disks the disk images the layer holds, in slot order: each {@link Disk#image()} is a file
 *     inside the layer, which is immutable — never attach it writable; clone it
 *     ({@link FileClone#cloneOrCopy}) or let {@link VmSnapshots#restore} do that
 */
public record LayerInfo(LayerId id, LayerKind kind, @Nullable LayerId parent, int formatVersion, int pageSize,
        List<LayoutRegion> layout, long storedPages, long bytesOnDisk, List<String> stateNames, List<Disk> disks) {
    public LayerInfo {
        layout = List.copyOf(layout);
        stateNames = List.copyOf(stateNames);
        disks = List.copyOf(disks);
    }

    /** Total bytes of guest memory described by the layout. */
    public long memorySize() {
        long total = 0;
        for (LayoutRegion r : layout) {
            total += r.size();
        }
        return total;
    }
}
