package dev.ignition.examples;

import dev.ignition.Console;
import dev.ignition.VirtualMachine;
import dev.ignition.guest.TestGuests;
import dev.ignition.snapshot.LayerInfo;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.VmSnapshots;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * A snapshot chain: a full snapshot, then two packed diffs as the guest rewrites its data, then a
 * restore of the newest one, with the time of every step. Run with
 * {@code ./ignition example SnapshotChain [STORE_DIR]} (a temporary store when no directory is
 * given; an existing one must not hold these names yet).
 *
 * <pre>{@code
 * VmSnapshots.snapshot(vm, store, "booted");          // full: the VM's first snapshot
 * vm.console().write("a");                            // the guest rewrites its data
 * VmSnapshots.snapshot(vm, store, "gen-a");           // a diff over "booted"
 * try (VirtualMachine copy = VmSnapshots.restore(store, "gen-a", b -> b)) { copy.start(); }
 * }</pre>
 */
public final class SnapshotChain {
    /** Pages the guest rewrites per generation: a diff holds about this many. */
    static final int PAGES = 256;
    static final Duration T = Duration.ofSeconds(60);

    private SnapshotChain() {}

    public static void main(String[] args) {
        System.exit(run(System.out, args.length > 0 ? Path.of(args[0]) : null));
    }

    /** Runs the example, printing to {@code out}; returns the exit status. */
    static int run(PrintStream out, @Nullable Path storeDir) {
        if (!Examples.backendAvailable(out)) {
            return Examples.UNAVAILABLE;
        }
        Path dir = storeDir != null ? storeDir : Examples.tempDir("ignition-chain");
        try (SnapshotStore store = SnapshotStore.open(dir);
             VirtualMachine vm = VirtualMachine.builder().memoryMiB(64).trackDirtyPages(true)
                     .guest(TestGuests.dirtier(PAGES)).build()) {
            long t0 = System.nanoTime();
            vm.start();
            vm.console().waitFor(TestGuests.DIRTIER_READY, T);
            out.printf("booted the dirtier guest (64 MiB) in %s%n", Examples.ms(System.nanoTime() - t0));
            report(out, VmSnapshots.snapshot(vm, store, "booted"), "booted");
            for (char generation : new char[] {'a', 'b'}) {
                String sum = command(vm.console(), generation);
                out.printf("guest rewrote %d pages with generation '%c': %s", PAGES, generation, sum);
                report(out, VmSnapshots.snapshot(vm, store, "gen-" + generation), "gen-" + generation);
            }
            out.print("chain of gen-b:");
            for (LayerInfo l : store.resolve("gen-b")) {
                out.printf(" %s(%s, %d pages)", l.id().shortForm(), l.kind(), l.storedPages());
            }
            out.println();
            long r0 = System.nanoTime();
            try (VirtualMachine copy = VmSnapshots.restore(store, "gen-b", b -> b)) {
                long restored = System.nanoTime();
                copy.start();
                String sum = command(copy.console(), '?');
                long answered = System.nanoTime();
                out.printf("restored gen-b in %s, started and answered in %s: %s", Examples.ms(restored - r0),
                        Examples.ms(answered - restored), sum);
                boolean same = sum.equals(String.format("sum=%016x%n", TestGuests.dirtierChecksum(PAGES, 'b')));
                out.println(same ? "the restored guest holds generation 'b'" : "MISMATCH: the restored guest's data differs");
                return same ? 0 : 1;
            }
        } finally {
            if (storeDir == null) {
                Examples.deleteTree(dir);
            }
        }
    }

    private static void report(PrintStream out, VmSnapshots.Result r, String name) {
        out.printf("snapshot %-7s %-4s %6d pages, %8d bytes on disk, written in %s (guest paused %s)%n", name,
                r.kind(), r.write().pagesStored(), r.write().layer().bytesOnDisk(), Examples.ms(r.writeTime().toNanos()),
                Examples.ms(r.paused().toNanos()));
    }

    /** Sends one command byte to the dirtier guest and returns its reply line. */
    static String command(Console console, char c) {
        console.write(String.valueOf(c));
        return console.waitFor("\n", T);
    }
}
