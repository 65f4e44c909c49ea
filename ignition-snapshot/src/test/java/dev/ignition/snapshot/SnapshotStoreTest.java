package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.memory.GuestMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.assertj.core.groups.Tuple;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SnapshotStoreTest {
    static final int PS = 4096;

    @TempDir Path dir;

    private static GuestMemory twoRegions() {
        return TestMemory.create(PS, 0, 16L * PS, 0x100000, 8L * PS);
    }

    @Test
    void fullLayerRestoresBytesAndStateAndSkipsZeroPages() {
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = twoRegions()) {
            Random rnd = new Random(1);
            TestMemory.fillPage(mem, 0, rnd);
            TestMemory.fillPage(mem, 3, rnd);
            TestMemory.fillPage(mem, 17, rnd);
            byte[] expected = TestMemory.bytes(mem);
            WriteResult w = store.writeFull("base", mem, Map.of("vcpu0", new byte[] {1, 2, 3}, "devices", new byte[0]));
            assertThat(w.pagesStored()).isEqualTo(3);
            assertThat(w.layer().kind()).isEqualTo(LayerKind.FULL);
            assertThat(w.layer().parent()).isNull();
            assertThat(w.timings().totalNanos()).isPositive();
            try (RestoredSnapshot r = store.restore("base")) {
                assertThat(TestMemory.bytes(r.memory())).isEqualTo(expected);
                assertThat(r.memory().regions()).hasSize(2);
                assertThat(r.memory().regions().get(1).guestAddress()).isEqualTo(0x100000);
                assertThat(r.state().get("vcpu0")).containsExactly(1, 2, 3);
                assertThat(r.state().get("devices")).isEmpty();
                assertThat(r.timings().chainDepth()).isEqualTo(1);
                assertThat(r.timings().pagesOverlaid()).isZero();
                // The mapping is private: writing it leaves the image untouched.
                r.memory().writeLong(0, 0xdeadbeefL);
            }
            try (RestoredSnapshot r = store.restore("base", Verification.FULL)) {
                assertThat(TestMemory.bytes(r.memory())).isEqualTo(expected);
            }
            assertThat(store.verify().problems()).isEmpty();
        }
    }

    @Test
    void diffChainRestoresNewestPageOnceAndReportsStages() {
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = twoRegions()) {
            Random rnd = new Random(2);
            for (int p = 0; p < 24; p += 2) {
                TestMemory.fillPage(mem, p, rnd);
            }
            store.writeFull("l0", mem, Map.of());
            mem.drainHostDirty(0);
            mem.drainHostDirty(1);
            TestMemory.fillPage(mem, 5, rnd);
            TestMemory.fillPage(mem, 20, rnd);
            mem.write(0, new byte[PS]);
            WriteResult d1 = store.writeDiff("l1", "l0", mem, DirtyPages.drainHost(mem), Map.of("s", new byte[] {1}));
            assertThat(d1.pagesStored()).isEqualTo(3);
            assertThat(d1.layer().kind()).isEqualTo(LayerKind.DIFF);
            byte[] afterL1 = TestMemory.bytes(mem);
            TestMemory.fillPage(mem, 5, rnd);
            TestMemory.fillPage(mem, 23, rnd);
            store.writeDiff("l2", "l1", mem, DirtyPages.drainHost(mem), Map.of("s", new byte[] {2}));
            byte[] afterL2 = TestMemory.bytes(mem);
            try (RestoredSnapshot r = store.restore("l2")) {
                assertThat(TestMemory.bytes(r.memory())).isEqualTo(afterL2);
                assertThat(r.state().get("s")).containsExactly(2);
                assertThat(r.chain()).hasSize(3);
                assertThat(r.timings().chainDepth()).isEqualTo(3);
                // Pages 0, 5, 20, 23: page 5 comes from l2 only, not from l1 as well.
                assertThat(r.timings().pagesOverlaid()).isEqualTo(4);
            }
            try (RestoredSnapshot r = store.restore("l1")) {
                assertThat(TestMemory.bytes(r.memory())).isEqualTo(afterL1);
            }
            List<LayerInfo> chain = store.resolve("l2");
            assertThat(chain).extracting(LayerInfo::kind).containsExactly(LayerKind.DIFF, LayerKind.DIFF, LayerKind.FULL);
            assertThat(chain.get(0).parent()).isEqualTo(chain.get(1).id());
            assertThat(store.list()).extracting(SnapshotInfo::name, SnapshotInfo::chainDepth)
                    .containsExactly(Tuple.tuple("l0", 1),
                            Tuple.tuple("l1", 2), Tuple.tuple("l2", 3));
            assertThat(store.inspect("l2").stateNames()).containsExactly("s");
        }
    }

    @Test
    void namesCannotEscapeTheStore() {
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = twoRegions()) {
            for (String bad : List.of("", "..", ".", "../x", "a/b", "/etc/passwd", ".hidden", "a\\b", "x\0y",
                    "a".repeat(129), "név", "-dash")) {
                assertThatThrownBy(() -> store.writeFull(bad, mem, Map.of()))
                        .as(bad).isInstanceOf(InvalidSnapshotNameException.class);
                assertThatThrownBy(() -> store.restore(bad)).isInstanceOf(InvalidSnapshotNameException.class);
            }
            store.writeFull("ok-1.2_3", mem, Map.of());
            assertThat(store.list()).extracting(SnapshotInfo::name).containsExactly("ok-1.2_3");
        }
    }

    @Test
    void diffCannotTakeItsParentsNameOrAnExistingName() {
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = twoRegions()) {
            store.writeFull("base", mem, Map.of());
            assertThatThrownBy(() -> store.writeDiff("base", "base", mem, DirtyPages.drainHost(mem), Map.of()))
                    .isInstanceOf(SnapshotConflictException.class).hasMessageContaining("parent's name 'base'");
            assertThatThrownBy(() -> store.writeFull("base", mem, Map.of()))
                    .isInstanceOf(SnapshotConflictException.class).hasMessageContaining("already exists");
            assertThatThrownBy(() -> store.writeDiff("d", "nope", mem, DirtyPages.drainHost(mem), Map.of()))
                    .isInstanceOf(NoSuchSnapshotException.class).hasMessageContaining("'nope'");
        }
    }

    @Test
    void diffMustMatchParentLayoutAndBitmapsMustFit() {
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = twoRegions();
             GuestMemory other = TestMemory.create(PS, 0, 16L * PS)) {
            store.writeFull("base", mem, Map.of());
            assertThatThrownBy(() -> store.writeDiff("d", "base", other, DirtyPages.drainHost(other), Map.of()))
                    .isInstanceOf(SnapshotConflictException.class).hasMessageContaining("layout");
            long[] tooFar = new long[1];
            tooFar[0] = 1L << 20; // region 1 has 8 pages
            assertThatThrownBy(() -> store.writeDiff("d", "base", mem, DirtyPages.of(new long[1], tooFar), Map.of()))
                    .isInstanceOf(SnapshotConflictException.class).hasMessageContaining("page 20");
            assertThatThrownBy(() -> store.writeDiff("d", "base", mem, DirtyPages.of(new long[1]), Map.of()))
                    .isInstanceOf(SnapshotConflictException.class).hasMessageContaining("2 regions");
            assertThat(store.list()).hasSize(1);
        }
    }

    @Test
    void deleteRefusesToOrphanChildrenUnlessCascade() {
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = twoRegions()) {
            Random rnd = new Random(3);
            TestMemory.fillPage(mem, 1, rnd);
            store.writeFull("a", mem, Map.of());
            TestMemory.fillPage(mem, 2, rnd);
            store.writeDiff("b", "a", mem, DirtyPages.drainHost(mem), Map.of());
            TestMemory.fillPage(mem, 3, rnd);
            store.writeDiff("c", "b", mem, DirtyPages.drainHost(mem), Map.of());
            assertThatThrownBy(() -> store.delete("a", false)).isInstanceOf(SnapshotConflictException.class)
                    .hasMessageContaining("[b, c]");
            assertThat(store.list()).hasSize(3);
            DeleteResult leaf = store.delete("c", false);
            assertThat(leaf.namesRemoved()).containsExactly("c");
            assertThat(leaf.layersRemoved()).hasSize(1);
            DeleteResult all = store.delete("a", true);
            assertThat(all.namesRemoved()).containsExactlyInAnyOrder("a", "b");
            assertThat(all.layersRemoved()).hasSize(2);
            assertThat(store.list()).isEmpty();
            assertThat(store.verify().layersChecked()).isZero();
        }
    }

    @Test
    void deletingOneOfTwoNamesOfALayerKeepsTheLayer() {
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = twoRegions()) {
            TestMemory.fillPage(mem, 1, new Random(4));
            store.writeFull("a", mem, Map.of());
            WriteResult again = store.writeFull("a2", mem, Map.of());
            assertThat(again.deduplicated()).isTrue();
            assertThat(store.delete("a", false).layersRemoved()).isEmpty();
            try (RestoredSnapshot r = store.restore("a2")) {
                assertThat(TestMemory.bytes(r.memory())).isEqualTo(TestMemory.bytes(mem));
            }
        }
    }

    @Test
    void squashPreservesBytesAndGcRemovesOnlyUnreachableLayers() {
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = twoRegions()) {
            Random rnd = new Random(5);
            TestMemory.fillPage(mem, 0, rnd);
            store.writeFull("s0", mem, Map.of());
            mem.drainHostDirty(0);
            mem.drainHostDirty(1);
            String prev = "s0";
            for (int i = 1; i <= 5; i++) {
                TestMemory.fillPage(mem, rnd.nextInt(24), rnd);
                store.writeDiff("s" + i, prev, mem, DirtyPages.drainHost(mem), Map.of("i", new byte[] {(byte) i}));
                prev = "s" + i;
            }
            byte[] expected = TestMemory.bytes(mem);
            WriteResult asDiff = store.squash("s5", "flat-diff", SquashMode.DIFF);
            assertThat(asDiff.layer().kind()).isEqualTo(LayerKind.DIFF);
            assertThat(store.resolve("flat-diff")).hasSize(2);
            WriteResult asFull = store.squash("s5", "flat-full", SquashMode.FULL);
            assertThat(asFull.layer().kind()).isEqualTo(LayerKind.FULL);
            for (String n : List.of("flat-diff", "flat-full")) {
                try (RestoredSnapshot r = store.restore(n)) {
                    assertThat(TestMemory.bytes(r.memory())).as(n).isEqualTo(expected);
                    assertThat(r.state().get("i")).containsExactly(5);
                }
            }
            assertThat(store.gc().removed()).isEmpty();
            // Squashing into the same name re-points it; the old diffs stay reachable from s1..s4.
            store.squash("s5", "s5", SquashMode.FULL);
            assertThat(store.resolve("s5")).hasSize(1);
            GcResult gc = store.gc();
            assertThat(gc.removed()).hasSize(1);
            assertThat(gc.bytesFreed()).isPositive();
            assertThatThrownBy(() -> store.delete("s1", false)).isInstanceOf(SnapshotConflictException.class);
            DeleteResult cascade = store.delete("s1", true);
            assertThat(cascade.namesRemoved()).containsExactlyInAnyOrder("s1", "s2", "s3", "s4");
            assertThat(cascade.layersRemoved()).hasSize(4);
            assertThat(store.list()).extracting(SnapshotInfo::name).containsExactly("flat-diff", "flat-full", "s0", "s5");
            assertThat(store.verify().problems()).isEmpty();
            try (RestoredSnapshot r = store.restore("s5")) {
                assertThat(TestMemory.bytes(r.memory())).isEqualTo(expected);
            }
        }
    }

    @Test
    void openRemovesCrashLeftoversAndRefusesForeignDirectories() throws IOException {
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            assertThat(store.list()).isEmpty();
        }
        Path leftover = dir.resolve("tmp").resolve("1234.layer");
        Files.createDirectories(leftover);
        Files.write(leftover.resolve("memory.img"), new byte[100]);
        try (SnapshotStore store = SnapshotStore.open(dir); var tmp = Files.list(dir.resolve("tmp"))) {
            assertThat(tmp.toList()).isEmpty();
            assertThat(store.list()).isEmpty();
        }
        Path foreign = dir.resolve("foreign");
        Files.createDirectories(foreign);
        Files.writeString(foreign.resolve("important.txt"), "data");
        assertThatThrownBy(() -> SnapshotStore.open(foreign)).isInstanceOf(SnapshotException.class)
                .hasMessageContaining("not empty");
    }

    @Test
    void concurrentWritersAreSerialised() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try (SnapshotStore s1 = SnapshotStore.open(dir); SnapshotStore s2 = SnapshotStore.open(dir)) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int id = t;
                SnapshotStore store = t % 2 == 0 ? s1 : s2;
                fs.add(pool.submit(() -> {
                    try (GuestMemory mem = twoRegions()) {
                        Random rnd = new Random(id);
                        for (int i = 0; i < 5; i++) {
                            TestMemory.fillPage(mem, rnd.nextInt(24), rnd);
                            store.writeFull("t" + id + "-" + i, mem, Map.of());
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
            assertThat(s1.list()).hasSize(20);
            assertThat(s2.verify().problems()).isEmpty();
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void dirtySetsCombineLikeKvmAndHostLogs() {
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = twoRegions()) {
            store.writeFull("base", mem, Map.of());
            DirtyPages kvm = DirtyPages.of(new long[] {0b1010}, new long[] {0});
            mem.writeByte(0x100000 + 3L * PS, (byte) 9);
            DirtyPages both = kvm.union(DirtyPages.drainHost(mem));
            assertThat(both.count()).isEqualTo(3);
            assertThat(store.writeDiff("d", "base", mem, both, Map.of()).pagesStored()).isEqualTo(3);
            assertThat(DirtyPages.all(mem).count()).isEqualTo(24);
            assertThat(store.writeDiff("all", "d", mem, DirtyPages.all(mem), Map.of()).pagesStored()).isEqualTo(24);
            try (RestoredSnapshot r = store.restore("all")) {
                assertThat(TestMemory.bytes(r.memory())).isEqualTo(TestMemory.bytes(mem));
                assertThat(r.timings().pagesOverlaid()).isEqualTo(24);
            }
        }
    }

    @Test
    void sixteenKibPagesWork() {
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = TestMemory.create(16384, 0, 8L * 16384)) {
            Random rnd = new Random(6);
            TestMemory.fillPage(mem, 2, rnd);
            store.writeFull("a", mem, Map.of());
            mem.drainHostDirty(0);
            TestMemory.fillPage(mem, 7, rnd);
            store.writeDiff("b", "a", mem, DirtyPages.drainHost(mem), Map.of());
            try (RestoredSnapshot r = store.restore("b")) {
                assertThat(r.memory().pageSize()).isEqualTo(16384);
                assertThat(TestMemory.bytes(r.memory())).isEqualTo(TestMemory.bytes(mem));
            }
        }
    }

    /**
     * Long spans of a diff are mapped from pages.bin over the image, short ones copied; a newer
     * layer's pages inside an older layer's long span must still win, and writes to the restored
     * memory must reach neither file.
     */
    @Test
    void longDiffSpansAreMappedAndNewerPagesInsideThemStillWin() throws IOException {
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = TestMemory.create(PS, 0, 128L * PS)) {
            Random rnd = new Random(7);
            for (int p = 0; p < 128; p++) {
                TestMemory.fillPage(mem, p, rnd);
            }
            store.writeFull("l0", mem, Map.of());
            mem.drainHostDirty(0);
            for (int p = 10; p < 90; p++) { // one 80-page span: mapped
                TestMemory.fillPage(mem, p, rnd);
            }
            TestMemory.fillPage(mem, 100, rnd); // a 1-page span: copied
            store.writeDiff("l1", "l0", mem, DirtyPages.drainHost(mem), Map.of());
            for (int p = 40; p < 43; p++) { // newer pages inside l1's long span
                TestMemory.fillPage(mem, p, rnd);
            }
            for (int p = 60; p < 80; p++) { // and a newer long span inside it
                TestMemory.fillPage(mem, p, rnd);
            }
            store.writeDiff("l2", "l1", mem, DirtyPages.drainHost(mem), Map.of());
            byte[] expected = TestMemory.bytes(mem);
            for (int round = 0; round < 2; round++) {
                try (RestoredSnapshot r = store.restore("l2", Verification.FULL)) {
                    assertThat(TestMemory.bytes(r.memory())).isEqualTo(expected);
                    assertThat(r.timings().pagesOverlaid()).isEqualTo(80 + 1);
                    for (int p = 0; p < 128; p++) { // private: nothing written here reaches the layers
                        r.memory().writeLong((long) p * PS, ~p);
                    }
                }
            }
            assertThat(store.verify().problems()).isEmpty();
        }
    }
}
