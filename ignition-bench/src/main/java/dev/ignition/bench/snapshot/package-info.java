/**
 * JMH benchmarks of the snapshot store: diff pack cost per page against a plain
 * {@code MemorySegment.copy} of the same bytes, full-layer writes against a raw sequential write,
 * and restore by chain depth for the same unique pages. Results: {@code docs/benchmarks.md}.
 */
@NullMarked
package dev.ignition.bench.snapshot;

import org.jspecify.annotations.NullMarked;
