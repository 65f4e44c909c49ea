package dev.ignition.snapshot;

import java.util.List;

/**
 * The result of {@link SnapshotStore#gc()}.
 *
 * @param removed layers removed because no snapshot name reaches them
 * @param bytesFreed sum of the removed files' logical sizes
 */
public record GcResult(List<LayerId> removed, long bytesFreed) {
    public GcResult {
        removed = List.copyOf(removed);
    }
}
