package dev.ignition.bench;

import static dev.ignition.bench.SnapshotHarness.ms;

import dev.ignition.Backends;
import dev.ignition.VirtualMachine;
import dev.ignition.bench.SnapshotHarness.Stat;
import dev.ignition.guest.TestGuests;
import dev.ignition.kvm.internal.KvmProvider;
import dev.ignition.snapshot.ForkPool;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.VmSnapshots;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Section 6 of the harness: forks of a 64 MiB echo template, to their first output (the echo of a
 * byte queued before start), from a warm {@link ForkPool} against {@link VmSnapshots#restore}; and
 * how many forks per second (take, start, first output, close) the machine sustains.
 */
final class Forks {
    private static final Duration T = Duration.ofMinutes(2);
    private static final int TEMPLATE_MIB = 64;
    private static final int POOL = 4;

    private final int runs;
    private final Path work;

    Forks(int runs, Path work) {
        this.runs = runs;
        this.work = work;
    }

    void run() throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory(work, "forks");
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(TEMPLATE_MIB).guest(TestGuests.echo()).build()) {
                vm.start();
                vm.console().waitFor(TestGuests.ECHO_READY, T);
                VmSnapshots.snapshot(vm, store, "template");
            }
            System.out.println("## 6. Forks of a 64 MiB template");
            System.out.println();
            latency(store);
            throughput(store);
        } finally {
            SnapshotHarness.deleteTree(dir);
        }
    }

    private void latency(SnapshotStore store) throws InterruptedException {
        int n = Math.max(30, 10 * runs);
        List<Double> pooled = new ArrayList<>();
        List<Double> restored = new ArrayList<>();
        try (ForkPool pool = ForkPool.open(store, "template", POOL, b -> b)) {
            for (int i = 0; i < n + 3; i++) {
                // Warm: a full pool, and the backend done closing the previous forks' VMs.
                while (pool.ready() < POOL) {
                    Thread.sleep(1);
                }
                quiesce();
                double p = ms(toFirstOutput(pool::take));
                quiesce();
                double r = ms(toFirstOutput(() -> VmSnapshots.restore(store, "template", b -> b)));
                if (i >= 3) {
                    pooled.add(p);
                    restored.add(r);
                }
            }
        }
        Stat p = Stat.of(pooled);
        Stat r = Stat.of(restored);
        System.out.printf(Locale.ROOT, "### Fork to first output (%d forks each, interleaved)%n%n", n);
        System.out.println("From the call that makes or takes the fork to the guest's echo of a byte queued before");
        System.out.println("start. Pool: `ForkPool.take()` from a full pool of " + POOL + " (made ahead: restored, built,");
        System.out.println("vCPUs created and restored), then `start()`. Restore: `VmSnapshots.restore` then `start()`.");
        System.out.println("Each starts with the backend idle (earlier forks' VMs torn down, shell pool full).");
        System.out.println();
        System.out.println("| path | p50 | p90 | ratio (p50) |");
        System.out.println("|---|---|---|---|");
        System.out.printf(Locale.ROOT, "| restore + start | %.3f ms | %.3f ms | 1.00 |%n", r.median(), p90(restored));
        System.out.printf(Locale.ROOT, "| warm pool take + start | %.3f ms | %.3f ms | %.3f |%n%n", p.median(), p90(pooled),
                p.median() / r.median());
    }

    private void throughput(SnapshotStore store) throws InterruptedException {
        int forks = 200;
        System.out.println("### Forks per second");
        System.out.println();
        System.out.println(forks + " forks, each taken, started, echoed once and closed, by 1 or 2 threads; the pool's");
        System.out.println("own thread makes forks meanwhile (so every core is in use). Wall time from the first take to");
        System.out.println("the last close.");
        System.out.println();
        System.out.println("| consumers | pool | forks/s |");
        System.out.println("|---|---|---|");
        for (int threads : new int[] {1, 2}) {
            try (ForkPool pool = ForkPool.open(store, "template", POOL, b -> b)) {
                while (pool.ready() < POOL) {
                    Thread.sleep(1);
                }
                double rate = rate(forks, threads, pool::take);
                System.out.printf(Locale.ROOT, "| %d | %d ready | %.0f |%n", threads, POOL, rate);
            }
            double rate = rate(forks, threads, () -> VmSnapshots.restore(store, "template", b -> b));
            System.out.printf(Locale.ROOT, "| %d | none (restore) | %.0f |%n", threads, rate);
        }
        System.out.println();
    }

    private static double rate(int forks, int threads, Supplier<VirtualMachine> make) throws InterruptedException {
        AtomicInteger left = new AtomicInteger(forks);
        List<Thread> ts = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int t = 0; t < threads; t++) {
            ts.add(Thread.ofPlatform().start(() -> {
                while (left.getAndDecrement() > 0) {
                    toFirstOutput(make);
                }
            }));
        }
        for (Thread t : ts) {
            t.join();
        }
        return forks / ((System.nanoTime() - t0) / 1e9);
    }

    /** Nanoseconds from making the fork to its first output; the fork is closed afterwards. */
    private static long toFirstOutput(Supplier<VirtualMachine> make) {
        long t0 = System.nanoTime();
        try (VirtualMachine vm = make.get()) {
            vm.console().write("x");
            vm.start();
            vm.console().waitFor("x", T);
            return System.nanoTime() - t0;
        }
    }

    /** Waits until the KVM backend's background teardown and shell making are done (no-op elsewhere). */
    private static void quiesce() throws InterruptedException {
        if (Backends.availability().backend().equals("kvm")) {
            KvmProvider.awaitBackgroundWork(Duration.ofSeconds(30));
        }
    }

    private static double p90(List<Double> xs) {
        double[] v = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return v[(int) Math.min(v.length - 1, Math.ceil(0.9 * v.length) - 1)];
    }
}
