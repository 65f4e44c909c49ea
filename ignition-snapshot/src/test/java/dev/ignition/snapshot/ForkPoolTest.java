package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.VirtualMachine;
import dev.ignition.VmState;
import dev.ignition.guest.TestGuests;
import dev.ignition.testkit.RequiresBackend;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Forks made ahead: each runs from the snapshot on its own memory; closing releases the rest. */
@Tag("kvm")
@RequiresBackend("kvm")
class ForkPoolTest {
    static final Duration T = Duration.ofSeconds(60);
    static final int PAGES = 16;

    /** A dirtier VM that wrote generation 'A', snapshotted as "base". */
    private static SnapshotStore base(Path dir) {
        SnapshotStore store = SnapshotStore.open(dir);
        try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(4).guest(TestGuests.dirtier(PAGES)).build()) {
            vm.start();
            vm.console().waitFor(TestGuests.DIRTIER_READY, T);
            vm.console().write("A");
            vm.console().waitFor("\n", T);
            VmSnapshots.snapshot(vm, store, "base");
        }
        return store;
    }

    private static String sum(int generation) {
        return String.format("sum=%016x\n", TestGuests.dirtierChecksum(PAGES, generation));
    }

    private static boolean eventually(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + T.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(5);
        }
        return true;
    }

    @Test
    void takenForksArePreparedAndRunFromTheSnapshotEachOnItsOwnMemory(@TempDir Path dir) throws Exception {
        try (SnapshotStore store = base(dir); ForkPool pool = ForkPool.open(store, "base", 2, b -> b)) {
            assertThat(eventually(() -> pool.ready() == 2)).isTrue();
            List<VirtualMachine> forks = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) { // one more than the pool holds: made on the spot
                    VirtualMachine vm = pool.take();
                    assertThat(vm.state()).isEqualTo(VmState.CREATED);
                    forks.add(vm);
                }
                // Each fork rewrites its data with its own generation; none sees another's.
                for (int i = 0; i < forks.size(); i++) {
                    VirtualMachine vm = forks.get(i);
                    vm.start();
                    vm.console().write("?");
                    vm.console().waitFor(sum('A'), T);
                    vm.console().write(String.valueOf((char) ('B' + i)));
                    vm.console().waitFor(sum('B' + i), T);
                }
                for (VirtualMachine vm : forks) {
                    vm.console().write("?");
                }
                for (int i = 0; i < forks.size(); i++) { // waitFor reads on from its previous match
                    forks.get(i).console().waitFor(sum('B' + i), T);
                    assertThat(forks.get(i).console().output()).isEqualTo(sum('A') + sum('B' + i) + sum('B' + i));
                }
            } finally {
                forks.forEach(VirtualMachine::close);
            }
            assertThat(eventually(() -> pool.ready() == 2)).isTrue(); // refilled in the background
        }
    }

    @Test
    void closingThePoolClosesReadyForksAndTheirThreads(@TempDir Path dir) throws Exception {
        try (SnapshotStore store = base(dir)) {
            ForkPool pool = ForkPool.open(store, "base", 3, b -> b);
            assertThat(eventually(() -> pool.ready() == 3)).isTrue();
            assertThat(vcpuThreads()).isGreaterThanOrEqualTo(3); // prepared forks wait at their gates
            pool.close();
            pool.close(); // idempotent
            assertThat(eventually(() -> vcpuThreads() == 0)).isTrue();
            assertThatThrownBy(pool::take).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        }
    }

    @Test
    void aPreparedForkClosedWithoutStartingReleasesItsVcpus(@TempDir Path dir) throws Exception {
        try (SnapshotStore store = base(dir); ForkPool pool = ForkPool.open(store, "base", 1, b -> b)) {
            VirtualMachine vm = pool.take();
            vm.close();
            assertThat(vm.state()).isEqualTo(VmState.CLOSED);
        }
        assertThat(eventually(() -> vcpuThreads() == 0)).isTrue();
    }

    @Test
    void badArgumentsAreRefusedAtOnce(@TempDir Path dir) {
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            assertThatThrownBy(() -> ForkPool.open(store, "missing", 2, b -> b))
                    .isInstanceOf(NoSuchSnapshotException.class);
            assertThatThrownBy(() -> ForkPool.open(store, "missing", 0, b -> b))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("between 1 and 64");
        }
    }

    private static long vcpuThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("ignition-vcpu-") && t.isAlive()).count();
    }
}
