package dev.ignition.bench.snapshot;

import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.DirtyPages;
import dev.ignition.snapshot.RestoredSnapshot;
import dev.ignition.snapshot.SnapshotStore;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
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
 * Restore (validate, map, overlay, then unmap) of a full root plus {@code depth} diff layers that
 * together hold the same 8192 unique 4 KiB pages (32 MiB) of a 512 MiB memory, whatever the depth.
 * {@code distinct}: each diff holds its own share of the pages. {@code overlapping}: every diff
 * holds all 8192 pages (only the newest copy of each is written at restore), so the chain stores
 * depth × 32 MiB but the unique pages stay the same. Files are warm in the page cache. Each trial
 * prints the mean time of each restore stage.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
public class RestoreBenchmark {
    static final int UNIQUE_PAGES = 8192;

    @Param({"1", "2", "4", "8", "16"})
    public int depth;

    @Param({"distinct", "overlapping"})
    public String layers;

    private Path dir;
    private SnapshotStore store;
    private String leaf;
    private final long[] stageSums = new long[4];
    private long restores;

    @Setup(Level.Trial)
    public void setUp() {
        dir = BenchMemory.dir("disk", "ignition-restorebench");
        store = SnapshotStore.open(dir);
        try (GuestMemory memory = BenchMemory.create(BenchMemory.bytes(), 4096)) {
            int pages = (int) (memory.size() / 4096);
            store.writeFull("root", memory, Map.of());
            List<Integer> all = new ArrayList<>();
            for (int p = 0; p < pages; p++) {
                all.add(p);
            }
            Collections.shuffle(all, new Random(3));
            List<Integer> unique = all.subList(0, UNIQUE_PAGES);
            String parent = "root";
            for (int d = 0; d < depth; d++) {
                long[] bits = new long[(pages + 63) / 64];
                List<Integer> mine = layers.equals("overlapping") ? unique
                        : unique.subList(d * UNIQUE_PAGES / depth, (d + 1) * UNIQUE_PAGES / depth);
                for (int p : mine) {
                    bits[p >>> 6] |= 1L << (p & 63);
                    memory.writeLong((long) p * 4096, d + 1);
                }
                String name = "d" + (d + 1);
                store.writeDiff(name, parent, memory, DirtyPages.of(bits), Map.of("vcpu", new byte[4096]));
                parent = name;
            }
            leaf = parent;
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (restores > 0) {
            System.out.printf("%n[restore stages, mean of %d] resolve+validate %.2f ms, map %.2f ms, overlay %.2f ms,"
                    + " unmap %.2f ms%n", restores, stageSums[0] / 1e6 / restores, stageSums[1] / 1e6 / restores,
                    stageSums[2] / 1e6 / restores, stageSums[3] / 1e6 / restores);
        }
        store.close();
        BenchMemory.delete(dir);
    }

    @Benchmark
    public long restore() {
        RestoredSnapshot r = store.restore(leaf);
        long value;
        try {
            if (r.timings().pagesOverlaid() != UNIQUE_PAGES) {
                throw new IllegalStateException("overlaid " + r.timings().pagesOverlaid() + " pages");
            }
            value = r.memory().readLong(0);
        } finally {
            long t0 = System.nanoTime();
            r.close();
            stageSums[3] += System.nanoTime() - t0;
        }
        stageSums[0] += r.timings().resolveValidateNanos();
        stageSums[1] += r.timings().mapNanos();
        stageSums[2] += r.timings().overlayNanos();
        restores++;
        return value;
    }
}
