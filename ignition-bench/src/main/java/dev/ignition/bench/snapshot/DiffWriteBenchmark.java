package dev.ignition.bench.snapshot;

import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.DirtyPages;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.WriteResult;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A whole {@code SnapshotStore.writeDiff} (index, pack, CRC32C, file writes, fsyncs, manifest,
 * rename, name) of 10 % scattered dirty pages, on tmpfs (no device I/O) and on the disk. This
 * is the figure to put next to the seed's ~11 µs per packed 16 KiB page.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
public class DiffWriteBenchmark {
    @Param({"4096", "16384"})
    public int pageSize;

    @Param({"10"})
    public int dirtyPercent;

    @Param({"tmpfs", "disk"})
    public String target;

    private GuestMemory memory;
    private DirtyPages dirty;
    private Path dir;
    private SnapshotStore store;
    private int counter;

    @Setup(Level.Trial)
    public void setUp() {
        memory = BenchMemory.create(BenchMemory.bytes(), pageSize);
        dirty = DirtyPages.of(BenchMemory.dirty((int) (memory.size() / pageSize), dirtyPercent, false, 7));
        dir = BenchMemory.dir(target, "ignition-diffbench");
        store = SnapshotStore.open(dir);
        store.writeFull("base", memory, Map.of());
        System.out.printf("%n[diff-write] %d dirty pages of %d bytes on %s%n", dirty.count(), pageSize, target);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        store.close();
        memory.close();
        BenchMemory.delete(dir);
    }

    @TearDown(Level.Invocation)
    public void dropDiff() {
        store.delete("d" + counter, false);
    }

    @Benchmark
    public WriteResult writeDiff() {
        counter++;
        // A distinct state blob per call keeps layer ids distinct, so nothing is deduplicated.
        return store.writeDiff("d" + counter, "base", memory, dirty, Map.of("n", new byte[] {(byte) counter,
                (byte) (counter >> 8), (byte) (counter >> 16)}));
    }
}
