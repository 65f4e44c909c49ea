package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.SnapshotMismatchException;
import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.VmImage;
import dev.ignition.device.Disk;
import dev.ignition.guest.TestGuests;
import dev.ignition.memory.GuestMemory;
import dev.ignition.testkit.RequiresBackend;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Snapshots of running KVM guests: exact continuation, chains of diffs, forks, refusals. */
@Tag("kvm")
@RequiresBackend("kvm")
class LiveSnapshotTest {
    static final Duration T = Duration.ofSeconds(120);
    static final int PAGES = 64;

    @TempDir
    Path dir;

    static void assertConsecutiveFromOne(String output) {
        String[] lines = output.split("\n");
        assertThat(lines.length).isGreaterThan(2);
        for (int i = 0; i < lines.length - 1; i++) { // the last line may be partial
            assertThat(lines[i]).as("line %d of\n%s", i, output).isEqualTo(Integer.toString(i + 1));
        }
    }

    @Test
    void counterRestoredContinuesFromExactlyTheNextValueAndTheOriginalRunsOn() {
        try (SnapshotStore store = SnapshotStore.open(dir);
             VirtualMachine vm = VirtualMachine.builder().memoryMiB(4).trackDirtyPages(true)
                     .guest(TestGuests.counter()).build()) {
            vm.start();
            vm.console().waitFor("\n40\n", T);
            vm.pause();
            VmSnapshots.Result r = VmSnapshots.snapshot(vm, store, "c1");
            assertThat(r.kind()).isEqualTo(LayerKind.FULL);
            String before = vm.console().output();
            vm.resume();
            vm.console().waitFor("\n80\n", T);
            assertConsecutiveFromOne(vm.console().output());

            try (VirtualMachine restored = VmSnapshots.restore(store, "c1", b -> b)) {
                restored.start();
                restored.console().waitFor("\n120\n", T);
                assertConsecutiveFromOne(before + restored.console().output());
            }
            vm.console().waitFor("\n130\n", T);
            assertConsecutiveFromOne(vm.console().output());
        }
    }

    static String sumLine(int generation) {
        return "sum=" + String.format("%016x", TestGuests.dirtierChecksum(PAGES, generation)) + "\n";
    }

    static void assertMemoryHoldsGeneration(GuestMemory m, int generation) {
        for (long x = TestGuests.DIRTIER_DATA; x < TestGuests.DIRTIER_DATA + PAGES * 4096L; x += 8) {
            long v = m.readLong(x);
            if (v != TestGuests.dirtierPattern(x, generation)) {
                throw new AssertionError("at 0x" + Long.toHexString(x) + ": 0x" + Long.toHexString(v)
                        + " is not generation " + (char) generation);
            }
        }
    }

    @Test
    void everyChainDepthRestoresExactlyItsGeneration() {
        String gens = "ABCDE";
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(8).trackDirtyPages(true)
                    .guest(TestGuests.dirtier(PAGES)).build()) {
                vm.start();
                vm.console().waitFor(TestGuests.DIRTIER_READY, T);
                for (int i = 0; i < gens.length(); i++) {
                    char g = gens.charAt(i);
                    vm.console().write(String.valueOf(g));
                    assertThat(vm.console().waitFor("\n", T)).isEqualTo(sumLine(g));
                    VmSnapshots.Result r = VmSnapshots.snapshot(vm, store, "gen" + i);
                    if (i == 0) {
                        assertThat(r.kind()).isEqualTo(LayerKind.FULL);
                    } else {
                        assertThat(r.kind()).isEqualTo(LayerKind.DIFF);
                        assertThat(r.parent()).isEqualTo("gen" + (i - 1));
                        // the data pages plus a few of stack and code-adjacent bookkeeping
                        assertThat(r.write().pagesStored()).isBetween((long) PAGES, PAGES + 16L);
                    }
                }
            }
            for (int i = 0; i < gens.length(); i++) {
                char g = gens.charAt(i);
                assertThat(store.resolve("gen" + i)).hasSize(i + 1);
                try (VirtualMachine vm = VmSnapshots.restore(store, "gen" + i, b -> b)) {
                    assertMemoryHoldsGeneration(vm.memory(), g);
                    vm.start();
                    vm.console().write("?");
                    assertThat(vm.console().waitFor("\n", T)).as("checksum inside the guest").isEqualTo(sumLine(g));
                    vm.console().write("q");
                    assertThat(vm.awaitExit(T)).contains(new VmExit.GuestExit(0));
                }
            }
        }
    }

    @Test
    void sixteenForksRunConcurrentlyAndDivergeIndependently() {
        Duration slow = Duration.ofMinutes(6); // 16 guests on 2 host cores, possibly emulated
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(8).guest(TestGuests.dirtier(PAGES)).build()) {
                vm.start();
                vm.console().waitFor(TestGuests.DIRTIER_READY, T);
                vm.console().write("A");
                vm.console().waitFor("\n", T);
                VmSnapshots.snapshot(vm, store, "base");
            }
            List<VirtualMachine> forks = VmSnapshots.fork(store, "base", 16, b -> b);
            try {
                forks.forEach(VirtualMachine::start);
                for (int i = 0; i < forks.size(); i++) {
                    forks.get(i).console().write(String.valueOf((char) ('a' + i)));
                }
                for (int i = 0; i < forks.size(); i++) {
                    int g = 'a' + i;
                    assertThat(forks.get(i).console().waitFor("\n", slow)).isEqualTo(sumLine(g));
                    assertMemoryHoldsGeneration(forks.get(i).memory(), g);
                }
            } finally {
                forks.forEach(VirtualMachine::close);
            }
            try (RestoredSnapshot again = store.restore("base")) {
                assertMemoryHoldsGeneration(again.memory(), 'A');
            }
        }
    }

    @Test
    void restoredVmsSnapshotIntoALongerChain() {
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(8).trackDirtyPages(true)
                    .guest(TestGuests.dirtier(PAGES)).build()) {
                vm.start();
                vm.console().waitFor(TestGuests.DIRTIER_READY, T);
                vm.console().write("A");
                vm.console().waitFor("\n", T);
                VmSnapshots.snapshot(vm, store, "root");
            }
            try (VirtualMachine vm = VmSnapshots.restore(store, "root", b -> b.trackDirtyPages(true))) {
                vm.start();
                vm.console().write("B");
                assertThat(vm.console().waitFor("\n", T)).isEqualTo(sumLine('B'));
                VmSnapshots.Result r = VmSnapshots.snapshot(vm, store, "child");
                assertThat(r.kind()).isEqualTo(LayerKind.DIFF);
                assertThat(r.parent()).isEqualTo("root");
            }
            try (VirtualMachine vm = VmSnapshots.restore(store, "child", b -> b)) {
                assertMemoryHoldsGeneration(vm.memory(), 'B');
            }
        }
    }

    @Test
    void aSnapshotThatDoesNotFitTheNewVmIsRefusedClearly() {
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(8).vcpus(2).guest(TestGuests.dirtier(PAGES)).build()) {
                vm.start();
                vm.console().waitFor(TestGuests.DIRTIER_READY, T);
                VmSnapshots.snapshot(vm, store, "s");
            }
            assertThatThrownBy(() -> VmSnapshots.restore(store, "s", b -> b.memoryMiB(16)))
                    .isInstanceOf(SnapshotMismatchException.class)
                    .hasMessageContaining("the snapshot has 8 MiB of memory, the builder asks for 16 MiB");
            assertThatThrownBy(() -> VmSnapshots.restore(store, "s", b -> b.vcpus(1)))
                    .isInstanceOf(SnapshotMismatchException.class)
                    .hasMessageContaining("the snapshot has 2 vCPUs, the builder asks for 1");

            VmImage image = withTamperedCpuid(VmSnapshots.image(store, "s"));
            try (VirtualMachine vm = VirtualMachine.builder().restoreFrom(image).build()) {
                assertThatThrownBy(vm::start)
                        .isInstanceOf(SnapshotMismatchException.class)
                        .hasMessageContaining("CPUID differs");
            }
        }
    }

    /** The same image with one CPUID value changed in vCPU 0's state, as if taken on another CPU. */
    static VmImage withTamperedCpuid(VmImage in) {
        List<byte[]> states = new ArrayList<>(in.vcpuStates());
        byte[] s = states.get(0).clone();
        byte[] tag = "cpuid".getBytes(StandardCharsets.US_ASCII);
        int at = indexOf(s, tag);
        assertThat(at).isPositive();
        int firstEntry = at + tag.length + 4 + 8; // record length, then the kvm_cpuid2 header
        s[firstEntry + 12] ^= 0x01; // eax of the first entry
        states.set(0, s);
        return new VmImage() {
            @Override
            public String backend() {
                return in.backend();
            }

            @Override
            public long memoryBytes() {
                return in.memoryBytes();
            }

            @Override
            public GuestMemory takeMemory() {
                return in.takeMemory();
            }

            @Override
            public List<byte[]> vcpuStates() {
                return states;
            }

            @Override
            public byte[] vmState() {
                return in.vmState();
            }

            @Override
            public Map<String, byte[]> deviceStates() {
                return in.deviceStates();
            }
        };
    }

    @Test
    void aVmsDiskGoesIntoItsSnapshotAndEachForkWritesItsOwnWorkingCopy() throws Exception {
        byte[] content = new byte[1 << 16];
        new Random(5).nextBytes(content);
        Path image = Files.write(dir.resolve("disk.img"), content);
        Path storeDir = dir.resolve("store");
        try (SnapshotStore store = SnapshotStore.open(storeDir);
             VirtualMachine vm = VirtualMachine.builder().memoryMiB(4).guest(TestGuests.counter())
                     .disk(Disk.of(image)).build()) {
            vm.start();
            vm.console().waitFor("\n10\n", T);
            vm.pause(); // the forks continue from the last number printed before the pause, however fast the guest is
            VmSnapshots.Result r = VmSnapshots.snapshot(vm, store, "d");
            String printed = vm.console().output();
            long last = Long.parseLong(printed.substring(0, printed.lastIndexOf('\n')).replaceAll("(?s).*\n", ""));
            vm.resume();
            Files.write(image, new byte[content.length]); // the original changes afterwards
            Disk inLayer = r.write().layer().disks().getFirst();
            assertThat(Files.readAllBytes(inLayer.image())).isEqualTo(content);
            List<VirtualMachine> forks = VmSnapshots.fork(store, "d", 2, b -> b);
            try {
                assertThat(workDirs(storeDir)).as("one working directory per fork").hasSize(2);
                forks.forEach(VirtualMachine::start);
                for (VirtualMachine f : forks) {
                    f.console().waitFor("\n" + (last + 10) + "\n", T);
                }
            } finally {
                forks.forEach(VirtualMachine::close);
            }
            assertThat(workDirs(storeDir)).as("deleted when the forks closed").isEmpty();
            assertThatThrownBy(() -> VmSnapshots.restore(store, "d", b -> b.disk(Disk.of(image))))
                    .hasMessageContaining("brings its own 1 disk(s)");
            assertThat(store.verify().problems()).isEmpty();
        }
    }

    private static List<Path> workDirs(Path storeDir) throws IOException {
        try (Stream<Path> s = Files.list(storeDir.resolve("work"))) {
            return s.toList();
        }
    }

    static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i <= hay.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
