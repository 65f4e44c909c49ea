package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.memory.GuestMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A closed store refuses work, a store on read-only media serves readers, a file is not a store. */
class StoreLifecycleTest {
    static final int PS = 4096;

    @TempDir
    Path dir;

    private static GuestMemory memory() {
        return TestMemory.create(PS, 0, 32L * PS);
    }

    /** "base" (full) and "child" (a diff of two pages over it); returns child's bytes. */
    private static byte[] twoLayers(SnapshotStore store, GuestMemory mem) {
        Random rnd = new Random(7);
        TestMemory.fillPage(mem, 1, rnd);
        TestMemory.fillPage(mem, 5, rnd);
        store.writeFull("base", mem, Map.of("s", new byte[] {1}));
        DirtyPages.drainHost(mem);
        TestMemory.fillPage(mem, 5, rnd);
        TestMemory.fillPage(mem, 9, rnd);
        store.writeDiff("child", "base", mem, DirtyPages.drainHost(mem), Map.of("s", new byte[] {2}));
        return TestMemory.bytes(mem);
    }

    @Test
    void everyMethodOfAClosedStoreRefusesAtOnceNamingTheOperation() {
        SnapshotStore store = SnapshotStore.open(dir);
        LayerId id;
        try (GuestMemory mem = memory()) {
            twoLayers(store, mem);
            id = store.inspect("base").id();
            store.close();
            store.close(); // idempotent
            Map<String, ThrowingCallable> calls = new LinkedHashMap<>();
            calls.put("list snapshots", store::list);
            calls.put("inspect snapshot 'base'", () -> store.inspect("base"));
            calls.put("inspect layer", () -> store.inspect(id));
            calls.put("resolve snapshot 'child'", () -> store.resolve("child"));
            calls.put("verify", store::verify);
            calls.put("restore snapshot 'child'", () -> store.restore("child"));
            calls.put("write snapshot 'x'", () -> store.writeFull("x", mem, Map.of()));
            calls.put("write snapshot 'y'", () -> store.writeDiff("y", "child", mem, DirtyPages.drainHost(mem), Map.of()));
            calls.put("delete snapshot 'child'", () -> store.delete("child", false));
            calls.put("squash snapshot 'child'", () -> store.squash("child", "flat", SquashMode.FULL));
            calls.put("garbage-collect", store::gc);
            calls.forEach((op, call) -> assertThatThrownBy(call).as(op).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("cannot " + op).hasMessageContaining("is closed"));
        }
        try (SnapshotStore again = SnapshotStore.open(dir)) {
            assertThat(again.list()).extracting(SnapshotInfo::name).containsExactly("base", "child");
        }
    }

    @Test
    void aRegularFileIsNotAStore() throws IOException {
        Path file = Files.writeString(dir.resolve("snapshots"), "not a store");
        assertThatThrownBy(() -> SnapshotStore.open(file)).isInstanceOf(SnapshotException.class)
                .hasMessage("cannot open snapshot store " + file + ": it is a regular file, not a directory");
        assertThat(Files.readString(file)).isEqualTo("not a store");
    }

    @Test
    void aStoreOnReadOnlyMediaIsListedInspectedVerifiedAndRestoredFrom() throws IOException {
        try (LoopFs fs = LoopFs.create(dir, 16)) {
            Path storeDir = fs.root().resolve("store");
            byte[] child;
            try (SnapshotStore store = SnapshotStore.open(storeDir); GuestMemory mem = memory()) {
                child = twoLayers(store, mem);
            }
            fs.remountReadOnly();
            try (SnapshotStore store = SnapshotStore.open(storeDir); GuestMemory mem = memory()) {
                assertThat(store.list()).extracting(SnapshotInfo::name).containsExactly("base", "child");
                assertThat(store.inspect("child").kind()).isEqualTo(LayerKind.DIFF);
                assertThat(store.resolve("child")).hasSize(2);
                VerifyReport report = store.verify();
                assertThat(report.problems()).isEmpty();
                assertThat(report.layersChecked()).isEqualTo(2);
                try (RestoredSnapshot r = store.restore("child", Verification.FULL)) {
                    assertThat(TestMemory.bytes(r.memory())).isEqualTo(child);
                    assertThat(r.state().get("s")).containsExactly(2);
                }
                List<ThrowingCallable> writes = List.of(
                        () -> store.writeFull("x", mem, Map.of()),
                        () -> store.delete("child", false),
                        store::gc,
                        () -> store.squash("child", "flat", SquashMode.FULL));
                for (ThrowingCallable w : writes) {
                    assertThatThrownBy(w).isInstanceOf(SnapshotException.class)
                            .hasMessageContaining("is read-only (it is on a read-only file system)");
                }
            }
        }
    }
}
