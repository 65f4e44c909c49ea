package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.internal.Restorer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every kind of damaged or crafted file is rejected before anything is mapped, with a message
 * naming the layer and the problem. The fixture is a full layer "base" (32 pages, 4 KiB) and a
 * diff "leaf" over it holding pages 3, 4 and 9.
 */
class HostileFilesTest {
    static final int PS = 4096;

    @TempDir Path dir;
    SnapshotStore store;
    LayerId base;
    LayerId leaf;

    @BeforeEach
    void setUp() {
        store = SnapshotStore.open(dir);
        try (GuestMemory mem = TestMemory.create(PS, 0, 32L * PS)) {
            Random rnd = new Random(7);
            for (int p = 0; p < 12; p++) {
                TestMemory.fillPage(mem, p, rnd);
            }
            base = store.writeFull("base", mem, Map.of("cpu", new byte[] {1, 2, 3, 4})).layer().id();
            mem.drainHostDirty(0);
            TestMemory.fillPage(mem, 3, rnd);
            TestMemory.fillPage(mem, 4, rnd);
            TestMemory.fillPage(mem, 9, rnd);
            leaf = store.writeDiff("leaf", "base", mem, DirtyPages.drainHost(mem), Map.of("cpu", new byte[] {5}))
                    .layer().id();
        }
    }

    private Path file(LayerId id, String name) {
        return Tamper.layerDir(dir, id).resolve(name);
    }

    /** Asserts that restoring {@code name} fails naming {@code layer} and {@code reason}, mapping nothing. */
    private void rejected(String name, Verification v, String layer, String reason) {
        long before = Restorer.mappingsCreated();
        ThrowingCallable restore = () -> store.restore(name, v).close();
        assertThatThrownBy(restore).isInstanceOf(CorruptLayerException.class)
                .hasMessageContaining(layer).hasMessageContaining(reason);
        assertThat(Restorer.mappingsCreated()).as("nothing mapped").isEqualTo(before);
    }

    private void verifyReports(String layer, String reason) {
        VerifyReport r = store.verify();
        assertThat(r.ok()).isFalse();
        assertThat(r.problems()).anySatisfy(p -> assertThat(p.toString()).contains(layer).contains(reason));
    }

    @Test
    void sanityTheFixtureRestores() {
        long before = Restorer.mappingsCreated();
        try (RestoredSnapshot r = store.restore("leaf", Verification.FULL)) {
            assertThat(r.timings().pagesOverlaid()).isEqualTo(3);
        }
        assertThat(Restorer.mappingsCreated()).as("the counter sees a real restore").isEqualTo(before + 1);
        assertThat(store.verify().problems()).isEmpty();
    }

    @Test
    void truncatedFullImage() throws Exception {
        Tamper.truncate(file(base, "memory.img"), 31L * PS);
        rejected("leaf", Verification.METADATA, base.hex(), "memory.img is 126976 bytes but the manifest says 131072 (truncated)");
        rejected("base", Verification.METADATA, base.hex(), "(truncated)");
        verifyReports(base.hex(), "truncated");
    }

    @Test
    void truncatedPackedPages() throws Exception {
        Tamper.truncate(file(leaf, "pages.bin"), 2L * PS + 100);
        rejected("leaf", Verification.METADATA, leaf.hex(), "pages.bin is 8292 bytes but the manifest says 12288");
    }

    @Test
    void flippedByteInManifest() throws Exception {
        byte[] m = Files.readAllBytes(file(leaf, "manifest.json"));
        int at = new String(m).indexOf("\"pageSize\"") + 14; // inside the number
        Tamper.flipByte(file(leaf, "manifest.json"), at);
        rejected("leaf", Verification.METADATA, leaf.hex(), "manifest");
    }

    @Test
    void manifestEditedWithoutRehashing() throws Exception {
        Path f = file(leaf, "manifest.json");
        Files.writeString(f, Files.readString(f).replace("\"cpu\"", "\"cpx\""));
        rejected("leaf", Verification.METADATA, leaf.hex(), "does not hash to the layer's id");
        verifyReports(leaf.hex(), "does not hash");
    }

    @Test
    void flippedByteInPageIndex() throws Exception {
        Tamper.flipByte(file(leaf, "pages.idx"), 0);
        rejected("leaf", Verification.METADATA, leaf.hex(), "pages.idx fails its checksum");
    }

    @Test
    void flippedByteInStateBlob() throws Exception {
        Tamper.flipByte(file(leaf, "state.bin"), 0);
        rejected("leaf", Verification.METADATA, leaf.hex(), "state.bin fails its checksum");
    }

    @Test
    void flippedByteInImagesIsCaughtByFullVerificationAndVerify() throws Exception {
        Tamper.flipByte(file(leaf, "pages.bin"), 5000);
        rejected("leaf", Verification.FULL, leaf.hex(), "pages.bin fails its checksum");
        verifyReports(leaf.hex(), "pages.bin fails its checksum");
        Tamper.flipByte(file(leaf, "pages.bin"), 5000);
        Tamper.flipByte(file(base, "memory.img"), 20L * PS + 7); // inside a hole: still covered
        rejected("leaf", Verification.FULL, base.hex(), "memory.img fails its checksum");
        verifyReports(base.hex(), "memory.img fails its checksum");
    }

    private static byte[] index(int... startCountPairs) {
        ByteBuffer b = ByteBuffer.allocate(startCountPairs.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : startCountPairs) {
            b.putInt(v);
        }
        return b.array();
    }

    @Test
    void pageIndexOutOfRange() throws Exception {
        LayerId bad = Tamper.replaceFile(dir, leaf, "pages.idx", index(3, 2, 40, 1), m -> {});
        rejected("leaf", Verification.METADATA, bad.hex(), "page index entry 1 (pages 40..40) is out of range: the layout has 32 pages");
    }

    @Test
    void pageIndexHugeCountDoesNotOverflow() throws Exception {
        LayerId bad = Tamper.replaceFile(dir, leaf, "pages.idx", index(3, 2, 9, -1), m -> {});
        rejected("leaf", Verification.METADATA, bad.hex(), "out of range");
    }

    @Test
    void pageIndexUnsorted() throws Exception {
        LayerId bad = Tamper.replaceFile(dir, leaf, "pages.idx", index(9, 1, 3, 2), m -> {});
        rejected("leaf", Verification.METADATA, bad.hex(), "page index entry 1 (first page 3) is unsorted or overlaps");
    }

    @Test
    void pageIndexOverlapping() throws Exception {
        LayerId bad = Tamper.replaceFile(dir, leaf, "pages.idx", index(3, 2, 4, 1), m -> {});
        rejected("leaf", Verification.METADATA, bad.hex(), "unsorted or overlaps");
    }

    @Test
    void parentCycle() throws Exception {
        // Two diff layers naming each other as parent. Real ids cannot form a cycle (they hash
        // their parent's id), so the walk must catch it before any hash is checked.
        String a = "a".repeat(64);
        String b = "b".repeat(64);
        for (String[] pair : new String[][] {{a, b}, {b, a}}) {
            Path d = dir.resolve("layers").resolve(pair[0]);
            Files.createDirectories(d);
            for (String f : new String[] {"pages.idx", "pages.bin", "state.bin"}) {
                Files.copy(file(leaf, f), d.resolve(f));
            }
            Files.writeString(d.resolve("manifest.json"), Files.readString(file(leaf, "manifest.json"))
                    .replace(base.hex(), pair[1]));
        }
        Tamper.pointName(dir, "cyc", a);
        rejected("cyc", Verification.METADATA, b, "its parent link forms a cycle");
        Path self = dir.resolve("layers").resolve("c".repeat(64));
        Files.createDirectories(self);
        Files.writeString(self.resolve("manifest.json"), Files.readString(file(leaf, "manifest.json"))
                .replace(base.hex(), "c".repeat(64)));
        Tamper.pointName(dir, "self", "c".repeat(64));
        rejected("self", Verification.METADATA, "c".repeat(64), "cycle");
    }

    @Test
    void missingParent() throws Exception {
        TestMemory.deleteTree(Tamper.layerDir(dir, base));
        rejected("leaf", Verification.METADATA, leaf.hex(), "its parent layer " + base.hex() + " is missing from the store");
        verifyReports(leaf.hex(), "missing");
    }

    @Test
    void wrongPageSize() throws Exception {
        // A self-consistent diff with 8 KiB pages over a 4 KiB parent: only the link is wrong.
        LayerId bad = Tamper.replaceFile(dir, leaf, "pages.bin", new byte[3 * 8192], m -> m.put("pageSize", 8192));
        rejected("leaf", Verification.METADATA, bad.hex(), "its page size 8192 differs from its parent " + base.hex());
    }

    @Test
    void wrongLayout() throws Exception {
        LayerId bad = Tamper.rewriteManifest(dir, leaf,
                m -> ((ObjectNode) m.get("layout").get(0)).put("size", 64L * PS));
        rejected("leaf", Verification.METADATA, bad.hex(), "its memory layout");
        rejected("leaf", Verification.METADATA, bad.hex(), "differs from its parent");
    }

    @Test
    void misalignedLayout() throws Exception {
        LayerId bad = Tamper.rewriteManifest(dir, base, m -> ((ObjectNode) m.get("layout").get(0)).put("guestAddress", 100));
        rejected("base", Verification.METADATA, bad.hex(), "is not aligned to the page size 4096");
    }

    @Test
    void unknownFormatVersion() throws Exception {
        LayerId bad = Tamper.rewriteManifest(dir, leaf, m -> m.put("formatVersion", 3));
        long before = Restorer.mappingsCreated();
        assertThatThrownBy(() -> store.restore("leaf")).isInstanceOf(UnsupportedFormatVersionException.class)
                .hasMessageContaining(bad.hex()).hasMessageContaining("unsupported format version 3");
        assertThat(Restorer.mappingsCreated()).isEqualTo(before);
    }

    @Test
    void unknownManifestField() throws Exception {
        LayerId bad = Tamper.rewriteManifest(dir, leaf, m -> m.put("compression", "zstd"));
        rejected("leaf", Verification.METADATA, bad.hex(), "unknown field 'compression'");
    }

    @Test
    void fullLayerClaimingAParent() throws Exception {
        LayerId bad = Tamper.rewriteManifest(dir, base, m -> m.put("parent", leaf.hex()));
        rejected("base", Verification.METADATA, bad.hex(), "a full layer has a parent");
    }

    @Test
    void stateBlobOutsideStateFile() throws Exception {
        LayerId bad = Tamper.rewriteManifest(dir, leaf,
                m -> ((ObjectNode) m.get("state").get(0)).put("length", 1000));
        rejected("leaf", Verification.METADATA, bad.hex(), "state blob 'cpu' [0, +1000) lies outside state.bin");
    }

    @Test
    void notJson() throws Exception {
        Files.writeString(file(leaf, "manifest.json"), "{\"format\": ");
        rejected("leaf", Verification.METADATA, leaf.hex(), "manifest.json is not valid JSON");
    }

    @Test
    void duplicateManifestKey() throws Exception {
        Path f = file(leaf, "manifest.json");
        Files.writeString(f, Files.readString(f).replaceFirst("\"kind\" : \"diff\"",
                "\"kind\" : \"diff\", \"kind\" : \"full\""));
        rejected("leaf", Verification.METADATA, leaf.hex(), "Duplicate field 'kind'");
    }

    @Test
    void nameReferringToAMissingLayer() throws Exception {
        Tamper.pointName(dir, "ghost", "d".repeat(64));
        rejected("ghost", Verification.METADATA, "d".repeat(64), "the layer's directory is missing from the store");
        verifyReports("'ghost'", "missing");
    }

    @Test
    void missingStateFile() throws Exception {
        Files.delete(file(leaf, "state.bin"));
        rejected("leaf", Verification.METADATA, leaf.hex(), "state.bin is missing");
    }

    @Test
    void oversizedManifest() throws Exception {
        Files.write(file(leaf, "manifest.json"), new byte[(1 << 20) + 1]);
        rejected("leaf", Verification.METADATA, leaf.hex(), "over the 1048576-byte limit");
    }

    @Test
    void corruptNameFile() throws Exception {
        Tamper.pointName(dir, "leaf", "../../etc/passwd");
        assertThatThrownBy(() -> store.restore("leaf")).isInstanceOf(SnapshotException.class)
                .hasMessageContaining("'leaf'").hasMessageContaining("does not hold a layer id");
    }
}
