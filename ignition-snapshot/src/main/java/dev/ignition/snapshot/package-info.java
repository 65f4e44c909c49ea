/**
 * The snapshot store's public API: {@link dev.ignition.snapshot.SnapshotStore} and the values and
 * exceptions it uses. The on-disk format is specified in {@code docs/snapshot-format.md}.
 */
@NullMarked
package dev.ignition.snapshot;

import org.jspecify.annotations.NullMarked;
