package dev.ignition.bench.snapshot;

import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.DirtyPages;
import dev.ignition.snapshot.internal.DiffPacker;
import dev.ignition.snapshot.internal.Layout;
import dev.ignition.snapshot.internal.PageRuns;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
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
 * Diff pack cost: turning a dirty bitmap into the page index and gathering the dirty pages into a
 * packed buffer (what a diff write does before its file writes), against plain
 * {@code MemorySegment.copy} baselines of the same bytes in the same run:
 * {@code baselinePerPageCopy} copies the same pages one by one from a precomputed list, and
 * {@code baselineContiguousCopy} copies the same number of bytes in one call (the memcpy floor).
 * Each operation handles all dirty pages; divide by the page count for the cost per page.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
public class PackBenchmark {
    @Param({"4096", "16384"})
    public int pageSize;

    @Param({"1", "10", "50"})
    public int dirtyPercent;

    @Param({"scattered", "contiguous"})
    public String pattern;

    private GuestMemory memory;
    private Layout layout;
    private DirtyPages dirty;
    private Arena arena;
    private MemorySegment dest;
    private MemorySegment source;
    private long[] pageOffsets;
    private long packedBytes;

    @Setup(Level.Trial)
    public void setUp() {
        memory = BenchMemory.create(BenchMemory.bytes(), pageSize);
        layout = Layout.of(memory);
        dirty = DirtyPages.of(BenchMemory.dirty(layout.totalPages(), dirtyPercent, pattern.equals("contiguous"), 7));
        PageRuns runs = DiffPacker.runs(layout, dirty);
        pageOffsets = new long[(int) runs.pageCount()];
        int k = 0;
        for (int r = 0; r < runs.runCount(); r++) {
            for (int p = runs.start(r); p < runs.start(r) + runs.count(r); p++) {
                pageOffsets[k++] = (long) p * pageSize;
            }
        }
        packedBytes = runs.pageCount() * pageSize;
        arena = Arena.ofShared();
        dest = arena.allocate(packedBytes, 4096);
        source = memory.regions().getFirst().segment();
        dest.fill((byte) 1); // fault the destination in before measuring
        System.out.printf("%n[pack] %d dirty pages of %d bytes = %d MiB%n", runs.pageCount(), pageSize,
                packedBytes >> 20);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
        memory.close();
    }

    @Benchmark
    public long pack() {
        PageRuns runs = DiffPacker.runs(layout, dirty);
        return DiffPacker.pack(memory, layout, runs, dest);
    }

    @Benchmark
    public long packAndChecksum() {
        PageRuns runs = DiffPacker.runs(layout, dirty);
        long n = DiffPacker.pack(memory, layout, runs, dest);
        CRC32C crc = new CRC32C();
        crc.update(dest.asSlice(0, n).asByteBuffer());
        return crc.getValue();
    }

    @Benchmark
    public long baselinePerPageCopy() {
        long pos = 0;
        for (long off : pageOffsets) {
            MemorySegment.copy(source, off, dest, pos, pageSize);
            pos += pageSize;
        }
        return pos;
    }

    @Benchmark
    public long baselineContiguousCopy() {
        MemorySegment.copy(source, 0, dest, 0, packedBytes);
        return packedBytes;
    }
}
