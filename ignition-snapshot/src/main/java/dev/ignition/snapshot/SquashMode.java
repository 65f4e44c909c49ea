package dev.ignition.snapshot;

/** What {@link SnapshotStore#squash} produces. */
public enum SquashMode {
    /** One full layer holding the chain's restored memory. */
    FULL,
    /** One packed diff on the chain's root holding the union of all the chain's diff pages. */
    DIFF
}
