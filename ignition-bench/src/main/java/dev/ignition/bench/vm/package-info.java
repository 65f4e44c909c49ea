/**
 * JMH benchmarks of whole VMs: forking a prepared VM from a snapshot against booting it from
 * scratch ({@link dev.ignition.bench.vm.ForkBenchmark}). Results: {@code docs/benchmarks.md}.
 */
@NullMarked
package dev.ignition.bench.vm;

import org.jspecify.annotations.NullMarked;
