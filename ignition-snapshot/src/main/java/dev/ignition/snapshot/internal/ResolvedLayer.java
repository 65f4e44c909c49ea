package dev.ignition.snapshot.internal;

import dev.ignition.snapshot.LayerId;
import dev.ignition.snapshot.LayerInfo;
import dev.ignition.snapshot.LayerKind;
import java.nio.file.Path;
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
        return new LayerInfo(id, manifest.kind(), manifest.parent(), Manifest.FORMAT_VERSION, manifest.pageSize(),
                manifest.layout(), manifest.storedPages(), manifest.bytesOnDisk(),
                manifest.state().stream().map(Manifest.StateEntry::name).toList());
    }

    public boolean isFull() {
        return manifest.kind() == LayerKind.FULL;
    }

    public Path file(String name) {
        return dir.resolve(name);
    }
}
