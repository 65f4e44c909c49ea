package dev.ignition.bench.snapshot;

import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.WriteResult;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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
 * A full-layer write of the whole memory (every page non-zero, so all of it is stored) against a
 * raw baseline: the same bytes written sequentially to one new file in 8 MiB calls, then fsynced
 * once. The layer additionally scans for zero pages, computes CRC32C, writes the state file and
 * manifest, fsyncs the directories and renames.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
public class FullWriteBenchmark {
    @Param({"tmpfs", "disk"})
    public String target;

    private GuestMemory memory;
    private Path dir;
    private SnapshotStore store;
    private int counter;

    @Setup(Level.Trial)
    public void setUp() {
        memory = BenchMemory.create(BenchMemory.bytes(), 4096);
        dir = BenchMemory.dir(target, "ignition-fullbench");
        store = SnapshotStore.open(dir.resolve("store"));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        store.close();
        memory.close();
        BenchMemory.delete(dir);
    }

    @TearDown(Level.Invocation)
    public void cleanUp() throws IOException {
        if (Files.exists(dir.resolve("raw.img"))) {
            Files.delete(dir.resolve("raw.img"));
        }
        if (counter > 0) {
            store.delete("f" + counter, false);
        }
    }

    @Benchmark
    public WriteResult writeFull() {
        counter++;
        return store.writeFull("f" + counter, memory, Map.of("n", Integer.toString(counter).getBytes()));
    }

    @Benchmark
    public long rawSequentialWrite() throws IOException {
        MemorySegment seg = memory.regions().getFirst().segment();
        long chunk = 8 << 20;
        try (FileChannel ch = FileChannel.open(dir.resolve("raw.img"), StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE)) {
            for (long off = 0; off < seg.byteSize(); off += chunk) {
                ByteBuffer b = seg.asSlice(off, Math.min(chunk, seg.byteSize() - off)).asByteBuffer();
                long pos = off;
                while (b.hasRemaining()) {
                    pos += ch.write(b, pos);
                }
            }
            ch.force(true);
            return ch.size();
        }
    }
}
