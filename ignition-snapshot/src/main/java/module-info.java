/**
 * Ignition's snapshot store: full and packed diff layers of guest memory plus opaque state blobs,
 * validated chains, copy-on-write restore, squash, garbage collection and verification.
 *
 * <p>Entry point: {@link dev.ignition.snapshot.SnapshotStore}.
 */
module dev.ignition.snapshot {
    requires transitive dev.ignition.core;
    requires com.fasterxml.jackson.databind;
    requires org.slf4j;

    exports dev.ignition.snapshot;
}
