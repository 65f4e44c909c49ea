package dev.ignition.snapshot.internal;

import dev.ignition.device.Disk;
import dev.ignition.snapshot.LayerId;
import dev.ignition.snapshot.LayerInfo;
import dev.ignition.snapshot.LayerKind;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A layer whose manifest, files and index passed validation.
 *
 * @param id the layer's id
 * @param dir its directory
 * @param manifest its manifest
 * @param layout its layout
 * @param runs its page index (diff layers), or null (full layers)
 */
public record ResolvedLayer(LayerId id, Path dir, Manifest manifest, Layout layout, @Nullable PageRuns runs) {
    public LayerInfo info() {
        List<Disk> disks = new ArrayList<>();
        for (int i = 0; i < manifest.disks().size(); i++) {
            Manifest.DiskEntry d = manifest.disks().get(i);
            disks.add(new Disk(dir.resolve(Manifest.diskFile(i)), d.readOnly(), d.id()));
        }
        return new LayerInfo(id, manifest.kind(), manifest.parent(), manifest.formatVersion(), manifest.pageSize(),
                manifest.layout(), manifest.storedPages(), manifest.bytesOnDisk(),
                manifest.state().stream().map(Manifest.StateEntry::name).toList(), disks);
    }

    public boolean isFull() {
        return manifest.kind() == LayerKind.FULL;
    }

    public Path file(String name) {
        return dir.resolve(name);
    }
}
