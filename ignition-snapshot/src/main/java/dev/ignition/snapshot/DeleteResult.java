package dev.ignition.snapshot;

import java.util.List;

/**
 * The result of {@link SnapshotStore#delete}.
 *
 * @param namesRemoved snapshot names removed
 * @param layersRemoved layers removed
 */
public record DeleteResult(List<String> namesRemoved, List<LayerId> layersRemoved) {
    public DeleteResult {
        namesRemoved = List.copyOf(namesRemoved);
        layersRemoved = List.copyOf(layersRemoved);
    }
}
