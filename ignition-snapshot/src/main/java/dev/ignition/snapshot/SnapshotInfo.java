package dev.ignition.snapshot;

import java.time.Instant;

/**
 * A named snapshot: a name pointing at the newest layer of a chain.
 *
 * @param name the snapshot's name
 * @param layer the layer the name points at
 * @param chainDepth number of layers from this one down to the full root, inclusive
 * @param published when the name was published
 */
public record SnapshotInfo(String name, LayerInfo layer, int chainDepth, Instant published) {}
