package dev.ignition.examples;

import dev.ignition.VirtualMachine;
import dev.ignition.guest.TestGuests;
import dev.ignition.snapshot.ForkPool;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.VmSnapshots;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Ten VMs forked from one snapshot: each starts where the snapshot was taken, with private
 * copy-on-write memory, and what one fork writes no other sees; then ten more taken from a
 * {@link ForkPool} that makes them ahead. Run with {@code ./ignition example ForkTen}.
 *
 * <pre>{@code
 * List<VirtualMachine> forks = VmSnapshots.fork(store, "prepared", 10, b -> b);
 * forks.forEach(VirtualMachine::start);
 * }</pre>
 */
public final class ForkTen {
    static final int FORKS = 10;
    static final int PAGES = 16;

    private ForkTen() {}

    public static void main(String[] args) {
        System.exit(run(System.out));
    }

    static int run(PrintStream out) {
        if (!Examples.backendAvailable(out)) {
            return Examples.UNAVAILABLE;
        }
        Path dir = Examples.tempDir("ignition-fork10");
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(32).guest(TestGuests.dirtier(PAGES)).build()) {
                vm.start();
                vm.console().waitFor(TestGuests.DIRTIER_READY, SnapshotChain.T);
                SnapshotChain.command(vm.console(), 'P');
                VmSnapshots.Result r = VmSnapshots.snapshot(vm, store, "prepared");
                out.printf("snapshot 'prepared' (generation 'P') written in %s%n", Examples.ms(r.writeTime().toNanos()));
            }
            int bad = 0;
            long t0 = System.nanoTime();
            List<VirtualMachine> forks = VmSnapshots.fork(store, "prepared", FORKS, b -> b);
            try {
                forks.forEach(VirtualMachine::start);
                long started = System.nanoTime();
                out.printf("forked and started %d VMs in %s (%s each)%n", FORKS, Examples.ms(started - t0),
                        Examples.ms((started - t0) / FORKS));
                for (int i = 0; i < FORKS; i++) {
                    char generation = (char) ('0' + i);
                    String mine = SnapshotChain.command(forks.get(i).console(), generation);
                    boolean ok = mine.equals(sumLine(generation));
                    out.printf("fork %d: wrote generation '%c' -> %s", i, generation, mine);
                    bad += ok ? 0 : 1;
                }
                // Every fork still holds its own generation: none saw another's writes.
                for (int i = 0; i < FORKS; i++) {
                    if (!SnapshotChain.command(forks.get(i).console(), '?').equals(sumLine((char) ('0' + i)))) {
                        out.printf("fork %d: its data changed under it%n", i);
                        bad++;
                    }
                }
                out.println(bad == 0 ? "all " + FORKS + " forks kept their own data" : bad + " problems");
            } finally {
                forks.forEach(VirtualMachine::close);
            }
            bad += fromPool(store, out);
            return bad == 0 ? 0 : 1;
        } finally {
            Examples.deleteTree(dir);
        }
    }

    /**
     * Ten more forks, taken from a {@link ForkPool} that keeps four made ahead: each is taken,
     * started and asked for its checksum (still generation 'P'). Returns the number of problems.
     */
    static int fromPool(SnapshotStore store, PrintStream out) {
        int bad = 0;
        long[] nanos = new long[FORKS];
        try (ForkPool pool = ForkPool.open(store, "prepared", 4, b -> b)) {
            for (int i = 0; i < FORKS; i++) {
                long deadline = System.nanoTime() + 5_000_000_000L;
                while (pool.ready() < 4 && System.nanoTime() < deadline) {
                    sleepMillis(1); // let the pool get ahead, as between the tests of a suite
                }
                long t0 = System.nanoTime();
                try (VirtualMachine vm = pool.take()) {
                    vm.start();
                    String sum = SnapshotChain.command(vm.console(), '?');
                    nanos[i] = System.nanoTime() - t0;
                    bad += sum.equals(sumLine('P')) ? 0 : 1;
                }
            }
        }
        Arrays.sort(nanos);
        out.printf("from a pool of 4 forks made ahead: take, start and first reply (a 21-character line)"
                + " in %s (median of %d)%s%n",
                Examples.ms(nanos[FORKS / 2]), FORKS, bad == 0 ? "" : "; " + bad + " saw other data");
        return bad;
    }

    private static void sleepMillis(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    static String sumLine(char generation) {
        return String.format("sum=%016x%n", TestGuests.dirtierChecksum(PAGES, generation));
    }
}
