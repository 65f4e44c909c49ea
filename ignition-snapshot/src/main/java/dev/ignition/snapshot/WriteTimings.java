package dev.ignition.snapshot;

/**
 * Per-stage wall-clock time of a layer write, in nanoseconds.
 *
 * @param writeNanos scanning, packing, checksumming and writing the image and state files
 * @param syncNanos fsync of the layer's files and directory
 * @param publishNanos manifest, rename into place and the name's publication (with their fsyncs)
 * @param totalNanos the whole call, including waiting for the store's writer lock
 */
public record WriteTimings(long writeNanos, long syncNanos, long publishNanos, long totalNanos) {}
