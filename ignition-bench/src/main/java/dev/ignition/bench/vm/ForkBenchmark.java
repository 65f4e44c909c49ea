package dev.ignition.bench.vm;

import dev.ignition.Availability;
import dev.ignition.Backends;
import dev.ignition.VirtualMachine;
import dev.ignition.guest.TestGuests;
import dev.ignition.snapshot.ForkPool;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.VmSnapshots;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
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
 * What {@code @IgnitionTest} saves per test: getting a VM into a prepared state by forking it
 * from a snapshot (restore with copy-on-write memory, start, one console round trip that proves
 * the guest runs on the snapshot's data) against booting it from scratch into the same state
 * (build, start, wait for the ready line, fill the data, the same round trip). Each operation
 * also closes its VM; a third path takes its fork from a {@link ForkPool}. Needs KVM (or another
 * backend); fails at setup with the probe's reason
 * elsewhere. The ratio of the two scores is the one {@code docs/benchmarks.md} reports.
 *
 * <pre>{@code
 * java --enable-native-access=ALL-UNNAMED -jar ignition-bench/target/benchmarks.jar ForkBenchmark -f 1
 * }</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
public class ForkBenchmark {
    static final int PAGES = 64;
    static final int POOL = 4;
    static final char GENERATION = 'S';
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    /** Guest RAM: forks map it copy-on-write, boots allocate and load it. */
    @Param({"16", "256"})
    public int memoryMiB;

    private Path dir;
    private SnapshotStore store;
    private ForkPool pool;
    private String expected;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        Availability a = Backends.availability();
        if (!a.available()) {
            throw new IllegalStateException("ForkBenchmark needs a hypervisor: " + a.reason());
        }
        expected = String.format("sum=%016x%n", TestGuests.dirtierChecksum(PAGES, GENERATION));
        dir = Files.createTempDirectory("ignition-forkbench");
        store = SnapshotStore.open(dir);
        try (VirtualMachine vm = bootPrepared()) {
            VmSnapshots.snapshot(vm, store, "prepared", VmSnapshots.Kind.FULL);
        }
        pool = ForkPool.open(store, "prepared", POOL, b -> b);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        pool.close();
        store.close();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    @Benchmark
    public String forkFromSnapshot() {
        try (VirtualMachine vm = VmSnapshots.restore(store, "prepared", b -> b)) {
            vm.start();
            return check(vm);
        }
    }

    /**
     * A fork taken from a {@link ForkPool} that keeps {@value #POOL} made ahead. Back to back, the
     * pool's thread refills it concurrently, so this is a throughput figure including that work
     * whenever the pool runs dry, not the latency of a take from a full pool.
     */
    @Benchmark
    public String forkFromPool() {
        try (VirtualMachine vm = pool.take()) {
            vm.start();
            return check(vm);
        }
    }

    @Benchmark
    public String bootFromScratch() {
        try (VirtualMachine vm = bootPrepared()) {
            return check(vm);
        }
    }

    /** Boots the dirtier guest and fills its data with {@link #GENERATION}: the state both paths reach. */
    private VirtualMachine bootPrepared() {
        VirtualMachine vm = VirtualMachine.builder().memoryMiB(memoryMiB).guest(TestGuests.dirtier(PAGES)).build();
        try {
            vm.start();
            vm.console().waitFor(TestGuests.DIRTIER_READY, TIMEOUT);
            vm.console().write(String.valueOf(GENERATION));
            String line = vm.console().waitFor("\n", TIMEOUT);
            if (!line.equals(expected)) {
                throw new IllegalStateException("the guest answered " + line.strip() + ", expected " + expected.strip());
            }
            return vm;
        } catch (RuntimeException e) {
            vm.close();
            throw e;
        }
    }

    /** Asks the guest for its checksum: it must be the prepared state's. */
    private String check(VirtualMachine vm) {
        vm.console().write("?");
        String line = vm.console().waitFor("\n", TIMEOUT);
        if (!line.endsWith(expected)) {
            throw new IllegalStateException("the VM does not hold the prepared state: " + line.strip());
        }
        return line;
    }
}
