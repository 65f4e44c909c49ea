package dev.ignition.examples;

import dev.ignition.VirtualMachine;
import dev.ignition.guest.TestGuests;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.VmSnapshots;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/**
 * Ten VMs forked from one snapshot: each starts where the snapshot was taken, with private
 * copy-on-write memory, and what one fork writes no other sees. Run with
 * {@code ./ignition example ForkTen}.
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
            long t0 = System.nanoTime();
            List<VirtualMachine> forks = VmSnapshots.fork(store, "prepared", FORKS, b -> b);
            try {
                forks.forEach(VirtualMachine::start);
                long started = System.nanoTime();
                out.printf("forked and started %d VMs in %s (%s each)%n", FORKS, Examples.ms(started - t0),
                        Examples.ms((started - t0) / FORKS));
                int bad = 0;
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
                return bad == 0 ? 0 : 1;
            } finally {
                forks.forEach(VirtualMachine::close);
            }
        } finally {
            Examples.deleteTree(dir);
        }
    }

    static String sumLine(char generation) {
        return String.format("sum=%016x%n", TestGuests.dirtierChecksum(PAGES, generation));
    }
}
