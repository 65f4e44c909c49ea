package dev.ignition.snapshot;

/** How much of a chain {@link SnapshotStore#restore(String, Verification)} checks before mapping. */
public enum Verification {
    /**
     * Manifests (id = hash), every file's presence and exact size, the page indexes (checksum and
     * structure), the state blobs (checksums) and every parent link. Reads O(metadata + state)
     * bytes, so restore stays proportional to the pages it overlays. The default.
     */
    METADATA,
    /** Everything {@link #METADATA} checks plus the CRC32C of every image file, read in full. */
    FULL
}
