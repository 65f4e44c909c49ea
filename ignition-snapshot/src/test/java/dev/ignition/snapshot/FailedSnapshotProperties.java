package dev.ignition.snapshot;

import static dev.ignition.snapshot.DirtierVm.assertRestores;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.VirtualMachine;
import dev.ignition.snapshot.internal.WriteFaults;
import dev.ignition.testkit.internal.BackendCheck;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tag;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.LifecycleContext;
import net.jqwik.api.lifecycle.SkipExecutionHook;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;

/**
 * Random sequences of guest writes, host writes, snapshots (some forced to fail, at every point
 * a failure can happen) and restores that continue from a snapshot: every published layer
 * restores exactly what the guest had when it was taken.
 */
@Tag("kvm")
@AddLifecycleHook(FailedSnapshotProperties.NeedsKvm.class)
class FailedSnapshotProperties {
    /** Host writes go to pages of the last MiB, which the dirtier guest never touches. */
    static final long HOST_AREA = 3L << 20;
    static final int HOST_PAGES = 64;

    /** Skips (saying why) where KVM cannot run, like {@code @RequiresBackend("kvm")} for Jupiter. */
    public static final class NeedsKvm implements SkipExecutionHook {
        @Override
        public SkipResult shouldBeSkipped(LifecycleContext context) {
            ConditionEvaluationResult r = BackendCheck.decide(BackendCheck.probe("kvm"));
            return r.isDisabled() ? SkipResult.skip(r.getReason().orElse("kvm unavailable")) : SkipResult.doNotSkip();
        }
    }

    /** How a snapshot attempt ends. */
    enum Outcome {
        PUBLISHED, INVALID_NAME, CONFLICT, IO_FILES, IO_MANIFEST, IO_RENAME, IO_NAME,
        /** The layer and its name are published, then the call fails. */
        IO_AFTER_PUBLISHING;

        WriteFaults.@Nullable Step step() {
            return switch (this) {
                case IO_FILES -> WriteFaults.Step.FILES;
                case IO_MANIFEST -> WriteFaults.Step.MANIFEST;
                case IO_RENAME -> WriteFaults.Step.RENAME;
                case IO_NAME -> WriteFaults.Step.NAME;
                case IO_AFTER_PUBLISHING -> WriteFaults.Step.PUBLISHED;
                default -> null;
            };
        }
    }

    sealed interface Op {}

    /** The guest fills its pages with generation {@code g}. */
    record GuestWrite(char g) implements Op {}

    /** The host writes {@code value} over a page (as a device's DMA would). */
    record HostWrite(int page, byte value) implements Op {}

    record Snapshot(Outcome outcome) implements Op {}

    /** The VM is replaced by one restored from a published snapshot (index modulo their number), which runs on. */
    record ContinueFrom(int index) implements Op {}

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Op> guest = Arbitraries.chars().range('A', 'Z').map(GuestWrite::new);
        Arbitrary<Op> host = Combinators.combine(Arbitraries.integers().between(0, HOST_PAGES - 1),
                Arbitraries.bytes()).as(HostWrite::new);
        Arbitrary<Op> snap = Arbitraries.frequency(
                Tuple.of(8, Outcome.PUBLISHED), Tuple.of(1, Outcome.INVALID_NAME),
                Tuple.of(1, Outcome.CONFLICT), Tuple.of(1, Outcome.IO_FILES),
                Tuple.of(1, Outcome.IO_MANIFEST), Tuple.of(1, Outcome.IO_RENAME),
                Tuple.of(1, Outcome.IO_NAME), Tuple.of(1, Outcome.IO_AFTER_PUBLISHING))
                .map(Snapshot::new);
        Arbitrary<Op> cont = Arbitraries.integers().between(0, 99).map(ContinueFrom::new);
        return Arbitraries.frequencyOf(Tuple.of(3, guest), Tuple.of(3, host),
                Tuple.of(5, snap), Tuple.of(1, cont)).list().ofMinSize(6).ofMaxSize(16);
    }

    private record Published(String name, byte[][] memory, char generation) {}

    @Property(tries = 20, shrinking = ShrinkingMode.BOUNDED)
    void everyPublishedLayerRestoresWhatTheGuestHadWhenItWasTaken(@ForAll("ops") List<Op> ops) throws IOException {
        Path dir = Files.createTempDirectory("ignition-props");
        List<Published> published = new ArrayList<>();
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            VirtualMachine vm = DirtierVm.boot();
            char generation = 0;
            try {
                // The dirtier's pages start at zero: give them a generation so checksums are defined.
                DirtierVm.write(vm, 'a');
                generation = 'a';
                int attempt = 0;
                for (Op op : ops) {
                    switch (op) {
                        case GuestWrite w -> {
                            DirtierVm.write(vm, w.g());
                            generation = w.g();
                        }
                        case HostWrite h -> {
                            byte[] page = new byte[4096];
                            Arrays.fill(page, h.value());
                            vm.memory().write(HOST_AREA + h.page() * 4096L, page);
                        }
                        case Snapshot s -> {
                            String name = "s" + attempt++;
                            Published p = attempt(vm, store, name, s.outcome(), published, generation);
                            if (p != null) {
                                published.add(p);
                            }
                        }
                        case ContinueFrom c -> {
                            if (published.isEmpty()) {
                                continue;
                            }
                            Published from = published.get(c.index() % published.size());
                            vm.close();
                            vm = VmSnapshots.restore(store, from.name(), b -> b.trackDirtyPages(true));
                            vm.start();
                            generation = from.generation();
                        }
                    }
                }
            } finally {
                WriteFaults.install(null);
                vm.close();
            }
            for (Published p : published) {
                assertRestores(store, p.name(), p.memory(), p.generation());
            }
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** One snapshot attempt with the VM paused around it; what it published, if anything. */
    private static @Nullable Published attempt(VirtualMachine vm, SnapshotStore store, String name, Outcome outcome,
            List<Published> published, char generation) {
        vm.pause();
        try {
            if (outcome == Outcome.PUBLISHED) {
                VmSnapshots.snapshot(vm, store, name);
                return new Published(name, DirtierVm.copy(vm.memory()), generation);
            }
            String target = switch (outcome) {
                case INVALID_NAME -> "../" + name;
                case CONFLICT -> published.isEmpty() ? "../" + name : published.getLast().name();
                default -> name;
            };
            WriteFaults.Step step = outcome.step();
            WriteFaults.install(step == null ? null : s -> {
                if (s == step) {
                    throw new IOException("injected at " + s);
                }
            });
            assertThatThrownBy(() -> VmSnapshots.snapshot(vm, store, target)).isInstanceOf(SnapshotException.class);
            WriteFaults.install(null);
            return outcome == Outcome.IO_AFTER_PUBLISHING
                    ? new Published(name, DirtierVm.copy(vm.memory()), generation) : null;
        } finally {
            WriteFaults.install(null);
            vm.resume();
        }
    }
}
