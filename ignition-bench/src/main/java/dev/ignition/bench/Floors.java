package dev.ignition.bench;

import static dev.ignition.bench.SnapshotHarness.ms;

import dev.ignition.VirtualMachine;
import dev.ignition.bench.SnapshotHarness.Stat;
import dev.ignition.bench.vm.RawKvm;
import dev.ignition.guest.TestGuests;
import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.VmSnapshots;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Section 5 of the harness: Ignition against the floors under it, each baseline measured in the
 * same run and interleaved with what it bounds, so that load on the machine hits both alike.
 */
final class Floors {
    private static final Duration T = Duration.ofMinutes(5);
    private static final long SMALL_VM_MIB = 16;
    private static final int SMALL_VM_PAGES = 2048;
    private static final int[] DIFF_PAGES = {1, 16, 256, 2048};
    private static final Path TMPFS = Path.of("/dev/shm");

    private final int runs;
    private final Path work;

    Floors(int runs, Path work) {
        this.runs = runs;
        this.work = work;
    }

    void run() throws IOException {
        System.out.println("## 5. Against the floors (same run, interleaved)");
        System.out.println();
        createToFirstOutput();
        fullSnapshotVsRawWrite();
        diffFixedCost();
    }

    // ---- VM create -> first guest output ----

    private void createToFirstOutput() {
        int n = Math.max(50, 10 * runs);
        List<Double> ignition = new ArrayList<>();
        List<Double> raw = new ArrayList<>();
        try (RawKvm kvm = new RawKvm()) {
            for (int i = 0; i < 3; i++) { // warm both paths (class loading, JIT of the FFM stubs)
                builderToFirstOutput();
                kvm.firstOutput(TestGuests.hello(), SMALL_VM_MIB << 20);
            }
            for (int i = 0; i < n; i++) {
                ignition.add(ms(builderToFirstOutput()));
                long t0 = System.nanoTime();
                int b = kvm.firstOutput(TestGuests.hello(), SMALL_VM_MIB << 20);
                raw.add(ms(kvm.firstOutputAt() - t0)); // like Ignition's: up to the byte, not the teardown
                if (b != TestGuests.HELLO_TEXT.charAt(0)) {
                    throw new IllegalStateException("raw KVM guest printed " + b + " first");
                }
            }
        }
        Stat ig = Stat.of(ignition);
        Stat rw = Stat.of(raw);
        System.out.println("### VM create → first guest output");
        System.out.println();
        System.out.printf(Locale.ROOT, "The hello guest in a %d MiB VM, %d times each. Ignition: `VirtualMachine.builder()` ...%n",
                SMALL_VM_MIB, n);
        System.out.println("`build()`, `start()`, until the first console byte reaches an output stream; then close.");
        System.out.println("Raw KVM: the fewest ioctls from the same JVM (create VM, one memory slot, one vCPU, CPUID,");
        System.out.println("registers, KVM_RUN to the first byte written to COM1), same boot layout. Both clocks stop");
        System.out.println("at the first byte, before any teardown.");
        System.out.println();
        System.out.println("| path | create → first output | ratio |");
        System.out.println("|---|---|---|");
        System.out.printf(Locale.ROOT, "| raw KVM ioctls | %s | 1.00 |%n", rw.fmt("ms"));
        System.out.printf(Locale.ROOT, "| Ignition builder | %s | %.2f |%n%n", ig.fmt("ms"), ig.median() / rw.median());
    }

    private static long builderToFirstOutput() {
        CountDownLatch first = new CountDownLatch(1);
        long[] at = new long[1];
        OutputStream probe = new OutputStream() {
            @Override
            public void write(int b) {
                if (first.getCount() > 0) {
                    at[0] = System.nanoTime();
                    first.countDown();
                }
            }
        };
        long t0 = System.nanoTime();
        try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(SMALL_VM_MIB).guest(TestGuests.hello())
                .consoleOutput(probe).build()) {
            vm.start();
            if (!first.await(T.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("no output from the hello guest in " + T);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        return at[0] - t0;
    }

    // ---- full snapshot vs raw write + fsync ----

    private void fullSnapshotVsRawWrite() throws IOException {
        List<Double> snapshot = new ArrayList<>();
        List<Double> raw = new ArrayList<>();
        List<VmSnapshots.Result> results = new ArrayList<>();
        long pages = 0;
        for (int r = 0; r < runs + 1; r++) {
            Path dir = Files.createTempDirectory(work, "full16");
            try (SnapshotStore store = SnapshotStore.open(dir);
                    VirtualMachine vm = VirtualMachine.builder().memoryMiB(SMALL_VM_MIB).trackDirtyPages(true)
                            .guest(TestGuests.dirtier(SMALL_VM_PAGES)).build()) {
                vm.start();
                vm.console().waitFor(TestGuests.DIRTIER_READY, T);
                vm.console().write("A");
                vm.console().waitFor("\n", T);
                vm.pause();
                ByteBuffer nonZero = nonZeroPages(vm.memory());
                vm.resume();
                long rawNanos = rawWriteAndSync(dir.resolve("raw.bin"), nonZero);
                VmSnapshots.Result f = VmSnapshots.snapshot(vm, store, "full", VmSnapshots.Kind.FULL);
                if (r > 0) { // the first round warms both paths
                    raw.add(ms(rawNanos));
                    snapshot.add(ms(f.paused().toNanos()));
                    results.add(f);
                    pages = nonZero.capacity() / 4096;
                }
            }
            SnapshotHarness.deleteTree(dir);
        }
        Stat s = Stat.of(snapshot);
        Stat w = Stat.of(raw);
        System.out.println("### Full snapshot of a 16 MiB VM against writing its non-zero pages");
        System.out.println();
        System.out.printf(Locale.ROOT, "A %d MiB dirtier VM after one pass over %d pages (%d non-zero pages). Snapshot:%n",
                SMALL_VM_MIB, SMALL_VM_PAGES, pages);
        System.out.println("the guest's whole pause for a FULL layer (capture, write, fsync, publish). Raw: one");
        System.out.println("write() of those pages, already packed in a direct buffer, to a new file in the same");
        System.out.println("directory, then fsync of the file — no scan, no state, no manifest, no directory fsync.");
        System.out.println();
        System.out.println("| path | time | ratio | capture | write | fsync | publish |");
        System.out.println("|---|---|---|---|---|---|---|");
        System.out.printf(Locale.ROOT, "| raw write + fsync | %s | 1.00 | | | | |%n", w.fmt("ms"));
        System.out.printf(Locale.ROOT, "| full snapshot | %s | %.2f | %s |%n%n", s.fmt("ms"), s.median() / w.median(),
                SnapshotHarness.breakdown(results));
    }

    /** The VM's non-zero 4 KiB pages, packed (the VM is paused). */
    private static ByteBuffer nonZeroPages(GuestMemory memory) {
        List<byte[]> pages = new ArrayList<>();
        for (var region : memory.regions()) {
            for (long off = 0; off < region.segment().byteSize(); off += 4096) {
                byte[] page = memory.read(region.guestAddress() + off, 4096);
                for (byte b : page) {
                    if (b != 0) {
                        pages.add(page);
                        break;
                    }
                }
            }
        }
        ByteBuffer buf = ByteBuffer.allocateDirect(pages.size() * 4096);
        pages.forEach(buf::put);
        return buf.flip();
    }

    private static long rawWriteAndSync(Path file, ByteBuffer data) throws IOException {
        ByteBuffer b = data.duplicate();
        long t0 = System.nanoTime();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
        long t = System.nanoTime() - t0;
        Files.delete(file);
        return t;
    }

    // ---- diff: fixed part and per-page part ----

    private void diffFixedCost() throws IOException {
        if (!Files.isDirectory(TMPFS)) {
            System.out.println("### Diff snapshot cost: skipped, no tmpfs at " + TMPFS);
            return;
        }
        System.out.println("### Diff snapshot: fixed part and cost per dirty page (store on tmpfs)");
        System.out.println();
        System.out.println("A 64 MiB dirtier VM that rewrites N pages between a FULL layer and a DIFF one; the");
        System.out.println("guest's whole pause for the diff. A least-squares line through the medians of each N");
        System.out.println("gives the fixed part (at N = 0) and the cost per page (medians: one stalled sample on");
        System.out.println("a shared 2-core machine would otherwise move the fixed part by a millisecond).");
        System.out.println();
        System.out.println("| dirty pages N | diff pause | capture | write | fsync | publish |");
        System.out.println("|---|---|---|---|---|---|");
        List<double[]> points = new ArrayList<>();
        for (int n : DIFF_PAGES) {
            List<Double> pause = new ArrayList<>();
            List<VmSnapshots.Result> results = new ArrayList<>();
            for (int r = 0; r < runs + 1; r++) {
                Path dir = Files.createTempDirectory(TMPFS, "ignition-diff");
                try (SnapshotStore store = SnapshotStore.open(dir);
                        VirtualMachine vm = VirtualMachine.builder().memoryMiB(64).trackDirtyPages(true)
                                .guest(TestGuests.dirtier(n)).build()) {
                    vm.start();
                    vm.console().waitFor(TestGuests.DIRTIER_READY, T);
                    vm.console().write("A");
                    vm.console().waitFor("\n", T);
                    VmSnapshots.snapshot(vm, store, "base", VmSnapshots.Kind.FULL);
                    vm.console().write("B");
                    vm.console().waitFor("\n", T);
                    VmSnapshots.Result d = VmSnapshots.snapshot(vm, store, "diff", VmSnapshots.Kind.DIFF);
                    if (r > 0) {
                        pause.add(ms(d.paused().toNanos()));
                        results.add(d);
                    }
                } finally {
                    SnapshotHarness.deleteTree(dir);
                }
            }
            System.out.printf(Locale.ROOT, "| %d | %s | %s |%n", n, Stat.of(pause).fmt("ms"), SnapshotHarness.breakdown(results));
            points.add(new double[] {n, Stat.of(pause).median()});
        }
        double[] line = leastSquares(points);
        System.out.printf(Locale.ROOT, "%nFit: diff pause ≈ %.2f ms + %.2f µs × N.%n%n", line[0], line[1] * 1000);
    }

    /** {intercept, slope} of the least-squares line through {@code points} (x, y). */
    static double[] leastSquares(List<double[]> points) {
        double n = points.size();
        double sx = 0;
        double sy = 0;
        double sxx = 0;
        double sxy = 0;
        for (double[] p : points) {
            sx += p[0];
            sy += p[1];
            sxx += p[0] * p[0];
            sxy += p[0] * p[1];
        }
        double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        return new double[] {(sy - slope * sx) / n, slope};
    }
}
