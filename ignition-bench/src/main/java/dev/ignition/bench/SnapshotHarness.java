package dev.ignition.bench;

import dev.ignition.Backends;
import dev.ignition.VirtualMachine;
import dev.ignition.guest.TestGuests;
import dev.ignition.internal.vm.MachineInternals;
import dev.ignition.snapshot.RestoredSnapshot;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.VmSnapshots;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reproduces the seed's tables (diff-snapshot-benchmarks) with the freestanding dirtier guest:
 * dirty-tracking tax on guest writes, snapshot write time Full vs Diff, restore time by chain
 * depth, and disk footprint; then Ignition against floors measured in the same run (section 5)
 * and forks from a warm pool (section 6). Prints Markdown; each figure is the median of the runs
 * with (min-max). Run with {@code ./ignition harness [--runs N] [--memory-mib M] [--sections 1,2,…]}.
 */
public final class SnapshotHarness {
    private static final Duration T = Duration.ofMinutes(5);
    private static final int PAGES_8M = 2048;
    private static final int PAGES_64M = 16384;
    private static final int[] DEPTHS = {1, 2, 4, 8, 16};
    private static final int MAX_DEPTH = 16;

    private final int runs;
    private final long memoryMiB;
    private final Path work;

    private SnapshotHarness(int runs, long memoryMiB, Path work) {
        this.runs = runs;
        this.memoryMiB = memoryMiB;
        this.work = work;
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        int runs = 5;
        long mem = 512;
        Set<Integer> sections = new TreeSet<>(List.of(1, 2, 3, 4, 5, 6));
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--memory-mib" -> mem = Long.parseLong(args[++i]);
                case "--sections" -> {
                    sections.clear();
                    for (String n : args[++i].split(",")) {
                        sections.add(Integer.parseInt(n.trim()));
                    }
                }
                default -> {
                    System.err.println("usage: SnapshotHarness [--runs N] [--memory-mib M] [--sections 1,2,...]");
                    System.exit(2);
                }
            }
        }
        if (sections.contains(4)) {
            sections.add(3); // the footprint is that of section 3's chain
        }
        var a = Backends.availability();
        if (!a.available()) {
            System.err.println("no VMs here: " + a.reason());
            System.exit(2);
        }
        Path work = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "ignition-harness");
        SnapshotHarness h = new SnapshotHarness(runs, mem, work);
        System.out.printf("# Seed harness%n%nbackend %s (%s), %d MiB guest, %d runs, %d cores, Java %s, store in %s%n%n",
                a.backend(), a.reason(), mem, runs, Runtime.getRuntime().availableProcessors(),
                Runtime.version(), work);
        if (sections.contains(1)) {
            h.trackingTax();
        }
        if (sections.contains(2)) {
            h.snapshotWrite();
        }
        if (sections.contains(3)) {
            h.restoreByDepth();
        }
        if (sections.contains(4)) {
            h.footprint();
        }
        if (sections.contains(5)) {
            new Floors(runs, work).run();
        }
        if (sections.contains(6)) {
            new Forks(runs, work).run();
        }
    }

    // ---- statistics ----

    record Stat(double median, double min, double max) {
        static Stat of(List<Double> xs) {
            double[] v = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            return new Stat(v[v.length / 2], v[0], v[v.length - 1]);
        }

        String fmt(String unit) {
            return String.format(Locale.ROOT, "%.2f %s (%.2f-%.2f)", median, unit, min, max);
        }
    }

    static double ms(long nanos) {
        return nanos / 1e6;
    }

    private static long timed(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        return System.nanoTime() - t0;
    }

    private VirtualMachine dirtier(int pages, boolean track) {
        VirtualMachine vm = VirtualMachine.builder().memoryMiB(memoryMiB).trackDirtyPages(track)
                .guest(TestGuests.dirtier(pages)).build();
        vm.start();
        vm.console().waitFor(TestGuests.DIRTIER_READY, T);
        return vm;
    }

    /** Sends one command byte and returns the nanoseconds until the guest's reply line. */
    private static long command(VirtualMachine vm, char c) {
        return timed(() -> {
            vm.console().write(String.valueOf(c));
            vm.console().waitFor("\n", T);
        });
    }

    // ---- 1. dirty-tracking tax ----

    private void trackingTax() {
        System.out.println("## 1. Guest write throughput, without vs with dirty tracking");
        System.out.println();
        System.out.println("The dirtier writes 64 MiB (qword stores) then checksums it; the checksum-only time is");
        System.out.println("subtracted. First touch: a fresh VM's first write of each page. Re-dirty: the same");
        System.out.println("pages again after the dirty log was reset (tracked pages are write-protected again).");
        System.out.println();
        System.out.println("| | untracked | tracked | tax |");
        System.out.println("|---|---|---|---|");
        double mib = PAGES_64M * 4096.0 / (1 << 20);
        List<Double>[] first = lists(2);
        List<Double>[] again = lists(2);
        for (int r = 0; r < runs; r++) {
            for (int t = 0; t < 2; t++) {
                try (VirtualMachine vm = dirtier(PAGES_64M, t == 1)) {
                    long gen = command(vm, 'A');
                    long sum = command(vm, '?');
                    addRate(first[t], mib, gen - sum);
                    ((MachineInternals) vm).resetDirtyTracking();
                    long gen2 = command(vm, 'B');
                    long sum2 = command(vm, '?');
                    addRate(again[t], mib, gen2 - sum2);
                }
            }
        }
        row("first touch (MiB/s)", first);
        row("re-dirty (MiB/s)", again);
        if (discarded > 0) {
            System.out.printf("%n%d sample(s) discarded: the checksum pass took longer than write + checksum.%n", discarded);
        }
        System.out.println();
    }

    /** A write rate from write+checksum minus checksum time; noise can make that difference meaningless. */
    private void addRate(List<Double> into, double mib, long writeNanos) {
        if (writeNanos > 0) {
            into.add(mib / (writeNanos / 1e9));
        } else {
            discarded++;
        }
    }

    private int discarded;

    @SuppressWarnings("unchecked")
    private static List<Double>[] lists(int n) {
        List<Double>[] l = new List[n];
        for (int i = 0; i < n; i++) {
            l[i] = new ArrayList<>();
        }
        return l;
    }

    private static void row(String name, List<Double>[] pair) {
        if (pair[0].isEmpty() || pair[1].isEmpty()) {
            System.out.printf("| %s | (no valid sample) | | |%n", name);
            return;
        }
        Stat u = Stat.of(pair[0]);
        Stat t = Stat.of(pair[1]);
        System.out.printf(Locale.ROOT, "| %s | %s | %s | %.1f %% |%n", name, u.fmt(""), t.fmt(""),
                100 * (1 - t.median / u.median));
    }

    // ---- 2. snapshot write time ----

    private void snapshotWrite() throws IOException {
        System.out.println("## 2. Snapshot write time, Full vs Diff");
        System.out.println();
        System.out.println("Internal timer (the store's write: memory, state, manifest, fsyncs, publication).");
        System.out.println("Full: the VM's first snapshot (all-zero pages are not stored). Diff: after the guest");
        System.out.println("rewrote its data once more.");
        System.out.println();
        System.out.println("Where the pause goes (medians): capture (pause the vCPUs, read vCPU, hypervisor and");
        System.out.println("device state, drain the dirty log), write (scan, pack, checksum, write the files), fsync");
        System.out.println("(the layer's files and directory), publish (manifest, rename, name, with their fsyncs).");
        System.out.println();
        System.out.println("| snapshot | dirtied | pages stored (median) | write time | guest paused | capture | write | fsync | publish |");
        System.out.println("|---|---|---|---|---|---|---|---|---|");
        for (int pages : new int[] {PAGES_8M, PAGES_64M}) {
            List<Double> full = new ArrayList<>();
            List<Double> diff = new ArrayList<>();
            List<Double> fullPause = new ArrayList<>();
            List<Double> diffPause = new ArrayList<>();
            List<Long> fullPages = new ArrayList<>();
            List<Long> diffPages = new ArrayList<>();
            List<VmSnapshots.Result> fulls = new ArrayList<>();
            List<VmSnapshots.Result> diffs = new ArrayList<>();
            for (int r = 0; r < runs; r++) {
                Path dir = Files.createTempDirectory(work, "write");
                try (SnapshotStore store = SnapshotStore.open(dir); VirtualMachine vm = dirtier(pages, true)) {
                    command(vm, 'A');
                    var f = VmSnapshots.snapshot(vm, store, "full");
                    command(vm, 'B');
                    var d = VmSnapshots.snapshot(vm, store, "diff");
                    full.add(ms(f.write().timings().totalNanos()));
                    diff.add(ms(d.write().timings().totalNanos()));
                    fullPause.add(ms(f.paused().toNanos()));
                    diffPause.add(ms(d.paused().toNanos()));
                    fullPages.add(f.write().pagesStored());
                    diffPages.add(d.write().pagesStored());
                    fulls.add(f);
                    diffs.add(d);
                }
                deleteTree(dir);
            }
            String dirtied = (pages * 4L / 1024) + " MiB";
            System.out.printf("| Full (%d MiB RAM) | %s | %d | %s | %s | %s |%n", memoryMiB, dirtied, median(fullPages),
                    Stat.of(full).fmt("ms"), Stat.of(fullPause).fmt("ms"), breakdown(fulls));
            System.out.printf("| Diff | %s | %d | %s | %s | %s |%n", dirtied, median(diffPages), Stat.of(diff).fmt("ms"),
                    Stat.of(diffPause).fmt("ms"), breakdown(diffs));
        }
        System.out.println();
    }

    /** Median capture | write | fsync | publish of {@code results}, as table cells. */
    static String breakdown(List<VmSnapshots.Result> results) {
        double capture = Stat.of(results.stream().map(r -> ms(r.capture().toNanos())).toList()).median;
        double write = Stat.of(results.stream().map(r -> ms(r.write().timings().writeNanos())).toList()).median;
        double sync = Stat.of(results.stream().map(r -> ms(r.write().timings().syncNanos())).toList()).median;
        double publish = Stat.of(results.stream().map(r -> ms(r.write().timings().publishNanos())).toList()).median;
        return String.format(Locale.ROOT, "%.2f ms | %.2f ms | %.2f ms | %.2f ms", capture, write, sync, publish);
    }

    private static long median(List<Long> xs) {
        List<Long> s = new ArrayList<>(xs);
        s.sort(Comparator.naturalOrder());
        return s.get(s.size() / 2);
    }

    // ---- 3. restore by chain depth ----

    private void restoreByDepth() throws IOException {
        System.out.println("## 3. Restore time by chain depth");
        System.out.println();
        System.out.println("Chain: a full layer, then a diff after each rewrite of 8 MiB. Internal: the store's");
        System.out.println("restore (validate, map copy-on-write, overlay). Wall: restore + build the VM + start +");
        System.out.println("first guest output (the dirtier's reply to a checksum request, which reads its 8 MiB).");
        System.out.println("First exit: restore + build + start until the guest's exit-port write in answer to a");
        System.out.println("'q' queued before start: its first instructions, touching none of its data.");
        System.out.println();
        System.out.println("| layers | internal | of which overlay | wall to first output | wall to first exit |");
        System.out.println("|---|---|---|---|---|");
        Path dir = Files.createTempDirectory(work, "chain");
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            try (VirtualMachine vm = dirtier(PAGES_8M, true)) {
                for (int i = 0; i < MAX_DEPTH; i++) {
                    command(vm, (char) ('A' + i));
                    VmSnapshots.snapshot(vm, store, "L" + (i + 1));
                }
            }
            for (int depth : DEPTHS) {
                List<Double> internal = new ArrayList<>();
                List<Double> overlay = new ArrayList<>();
                List<Double> wall = new ArrayList<>();
                List<Double> firstExit = new ArrayList<>();
                for (int r = 0; r < runs; r++) {
                    firstExit.add(ms(restoreToFirstExit(store, "L" + depth)));
                    try (RestoredSnapshot rs = store.restore("L" + depth)) {
                        internal.add(ms(rs.timings().totalNanos()));
                        overlay.add(ms(rs.timings().overlayNanos()));
                    }
                    long t0 = System.nanoTime();
                    VirtualMachine vm = VmSnapshots.restore(store, "L" + depth, b -> b);
                    try {
                        vm.start();
                        vm.console().write("?");
                        vm.console().waitFor("\n", T);
                        wall.add(ms(System.nanoTime() - t0));
                    } finally {
                        vm.close();
                    }
                }
                System.out.printf("| %d | %s | %s | %s | %s |%n", depth, Stat.of(internal).fmt("ms"),
                        Stat.of(overlay).fmt("ms"), Stat.of(wall).fmt("ms"), Stat.of(firstExit).fmt("ms"));
            }
        }
        footprintDir = dir;
        System.out.println();
    }

    /** Restore + build + start until the guest's first VM exit of its own (the exit port, answering 'q'). */
    private static long restoreToFirstExit(SnapshotStore store, String name) {
        long t0 = System.nanoTime();
        try (VirtualMachine vm = VmSnapshots.restore(store, name, b -> b)) {
            vm.console().write("q");
            vm.start();
            vm.awaitExit(T).orElseThrow();
            return System.nanoTime() - t0;
        }
    }

    // ---- 4. disk footprint ----

    private Path footprintDir;

    private void footprint() throws IOException {
        System.out.println("## 4. Disk footprint of that chain");
        System.out.println();
        System.out.println("| layer | logical (st_size) | physical (st_blocks x 512) |");
        System.out.println("|---|---|---|");
        try (SnapshotStore store = SnapshotStore.open(footprintDir)) {
            for (var info : store.list()) {
                Path layerDir = findLayerDir(footprintDir, info.layer().id().hex());
                long logical = du(layerDir, true);
                long physical = du(layerDir, false);
                System.out.printf(Locale.ROOT, "| %s (%s) | %.2f MiB | %.2f MiB |%n", info.name(), info.layer().kind(),
                        logical / 1048576.0, physical / 1048576.0);
            }
        }
        System.out.printf(Locale.ROOT, "| whole store | %.2f MiB | %.2f MiB |%n%n",
                du(footprintDir, true) / 1048576.0, du(footprintDir, false) / 1048576.0);
    }

    private static Path findLayerDir(Path store, String id) throws IOException {
        try (var s = Files.walk(store)) {
            return s.filter(p -> Files.isDirectory(p) && p.getFileName().toString().contains(id)).findFirst()
                    .orElse(store);
        }
    }

    private static long du(Path p, boolean apparent) throws IOException {
        List<String> cmd = new ArrayList<>(Arrays.asList("du", "-s", "--block-size=1"));
        if (apparent) {
            cmd.add("--apparent-size");
        }
        cmd.add(p.toString());
        Process pr = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(pr.getInputStream().readAllBytes()).trim();
        try {
            pr.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return Long.parseLong(out.split("\\s+")[0]);
    }

    static void deleteTree(Path dir) throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
