package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ignition.InvalidVmSpecException;
import dev.ignition.VirtualMachine;
import dev.ignition.VmImage;
import dev.ignition.device.Disk;
import dev.ignition.internal.state.MachineState;
import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.internal.Restorer;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Disk images in layers: cloned at write time, recorded in a version-2 manifest, validated as
 * untrusted input, and handed to restored VMs as private working copies (read-only disks by
 * reference). Runs without a hypervisor: the VM-level path is in {@code LinuxDiskSnapshotTest}.
 */
class SnapshotDisksTest {
    static final int PS = 4096;

    @TempDir Path dir;
    @TempDir Path disks;
    Path store0;
    SnapshotStore store;
    Path rw;
    Path ro;
    byte[] rwBytes;
    byte[] roBytes;

    @BeforeEach
    void setUp() throws IOException {
        store0 = dir.resolve("store");
        store = SnapshotStore.open(store0);
        rwBytes = random(64 * 1024 + 512, 1);
        roBytes = random(8192, 2);
        rw = Files.write(disks.resolve("rw.img"), rwBytes);
        ro = Files.write(disks.resolve("ro.img"), roBytes);
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private List<Disk> bothDisks() {
        return List.of(Disk.of(rw).withId("data"), Disk.of(ro).asReadOnly().withId("ref"));
    }

    /** State that {@link VmSnapshots#image} accepts, as a snapshot of a 1-vCPU VM of {@code memBytes}. */
    private static Map<String, byte[]> vmState(long memBytes) {
        return Map.of(VmSnapshots.STATE_ENTRY,
                new MachineState("kvm", memBytes, List.of(new byte[] {1}), new byte[] {2}, Map.of()).encode());
    }

    private LayerId writeWithDisks(String name) {
        try (GuestMemory mem = TestMemory.create(PS, 0, 8L * PS)) {
            TestMemory.fillPage(mem, 1, new Random(3));
            return store.writeFull(name, mem, vmState(mem.size()), bothDisks()).layer().id();
        }
    }

    private Path layerFile(LayerId id, String file) {
        return Tamper.layerDir(store0, id).resolve(file);
    }

    private List<Path> workDirs() throws IOException {
        try (Stream<Path> s = Files.list(store0.resolve("work"))) {
            return s.toList();
        }
    }

    @Test
    void aLayerHoldsAClonedCopyOfEachDiskAsItWasWhenWritten() throws IOException {
        LayerId id = writeWithDisks("s");
        // The originals change afterwards; the layer does not.
        Files.write(rw, new byte[] {9, 9, 9}, StandardOpenOption.WRITE);
        assertThat(Files.readAllBytes(layerFile(id, "disk0.img"))).isEqualTo(rwBytes);
        assertThat(Files.readAllBytes(layerFile(id, "disk1.img"))).isEqualTo(roBytes);

        LayerInfo info = store.inspect("s");
        assertThat(info.formatVersion()).isEqualTo(2);
        assertThat(info.disks()).containsExactly(new Disk(layerFile(id, "disk0.img"), false, "data"),
                new Disk(layerFile(id, "disk1.img"), true, "ref"));
        assertThat(info.bytesOnDisk()).isGreaterThanOrEqualTo(rwBytes.length + roBytes.length);
        String manifest = Files.readString(layerFile(id, "manifest.json"));
        assertThat(manifest).contains("\"formatVersion\" : 2").contains("\"disk0.img\"").contains("\"disk1.img\"")
                .contains("\"id\" : \"data\"").contains("\"readOnly\" : true");
        try (RestoredSnapshot r = store.restore("s", Verification.FULL)) {
            assertThat(r.disks()).isEqualTo(info.disks());
        }
        assertThat(store.verify().problems()).isEmpty();
    }

    @Test
    void layersWithoutDisksStayVersionOneAndDiffsCarryWholeDisks() throws IOException {
        try (GuestMemory mem = TestMemory.create(PS, 0, 8L * PS)) {
            TestMemory.fillPage(mem, 1, new Random(3));
            store.writeFull("plain", mem, Map.of("a", new byte[] {1}));
            assertThat(store.inspect("plain").formatVersion()).isEqualTo(1);
            assertThat(store.inspect("plain").disks()).isEmpty();
            assertThat(Files.readString(Tamper.layerDir(store0, store.inspect("plain").id()).resolve("manifest.json")))
                    .doesNotContain("disks");
            mem.drainHostDirty(0);
            TestMemory.fillPage(mem, 2, new Random(4));
            byte[] later = random(rwBytes.length, 5);
            Files.write(rw, later);
            WriteResult diff = store.writeDiff("later", "plain", mem, DirtyPages.drainHost(mem), Map.of("a", new byte[] {2}),
                    List.of(Disk.of(rw)));
            assertThat(diff.layer().kind()).isEqualTo(LayerKind.DIFF);
            assertThat(diff.layer().formatVersion()).isEqualTo(2);
            try (RestoredSnapshot r = store.restore("later", Verification.FULL)) {
                assertThat(r.disks()).hasSize(1);
                assertThat(Files.readAllBytes(r.disks().getFirst().image())).isEqualTo(later);
            }
        }
        // A squash keeps the leaf's disks.
        WriteResult squashed = store.squash("later", "flat", SquashMode.FULL);
        assertThat(squashed.layer().disks()).hasSize(1);
        assertThat(Files.readAllBytes(squashed.layer().disks().getFirst().image())).isEqualTo(Files.readAllBytes(rw));
        assertThat(store.verify().problems()).isEmpty();
    }

    @Test
    void eachRestoredImageGetsItsOwnWorkingCopyDeletedOnRelease() throws IOException {
        LayerId id = writeWithDisks("s");
        VmImage a = VmSnapshots.image(store, "s");
        VmImage b = VmSnapshots.image(store, "s");
        try {
            Path wa = a.disks().get(0).image();
            Path wb = b.disks().get(0).image();
            assertThat(wa).isNotEqualTo(wb);
            assertThat(wa.startsWith(store0.resolve("work"))).as(wa.toString()).isTrue();
            assertThat(a.disks().get(0)).isEqualTo(new Disk(wa, false, "data"));
            assertThat(Files.readAllBytes(wa)).isEqualTo(rwBytes);
            // The read-only disk is served from the layer itself.
            assertThat(a.disks().get(1)).isEqualTo(new Disk(layerFile(id, "disk1.img"), true, "ref"));

            try (FileChannel ch = FileChannel.open(wa, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(new byte[] {0x55, 0x55}), 512);
            }
            assertThat(Files.readAllBytes(wb)).as("forks do not share a disk").isEqualTo(rwBytes);
            assertThat(Files.readAllBytes(layerFile(id, "disk0.img"))).as("the layer is untouched").isEqualTo(rwBytes);
            assertThat(Files.readAllBytes(rw)).as("the original is untouched").isEqualTo(rwBytes);
            assertThat(workDirs()).hasSize(2);
        } finally {
            for (VmImage i : List.of(a, b)) {
                i.takeMemory().close();
                i.release();
                i.release(); // idempotent
            }
        }
        assertThat(workDirs()).isEmpty();
        assertThat(store.verify().problems()).isEmpty();
    }

    @Test
    void aSnapshotWithDisksRefusesExtraDisksAndReleasesItsCopies() throws IOException {
        writeWithDisks("s");
        assertThatThrownBy(() -> VmSnapshots.restore(store, "s", b -> b.disk(Disk.of(rw))))
                .isInstanceOf(InvalidVmSpecException.class)
                .hasMessageContaining("brings its own 2 disk(s)");
        assertThat(workDirs()).as("the working copies of the failed restore are gone").isEmpty();
    }

    @Test
    void workingDirectoriesOfDeadProcessesAreRemovedOnOpenLiveOnesKept() throws IOException {
        writeWithDisks("s");
        VmImage live = VmSnapshots.image(store, "s");
        try {
            Path stale = Files.createDirectories(store0.resolve("work").resolve("dead-vm"));
            Files.write(stale.resolve("in-use.lock"), new byte[0]);
            Files.write(stale.resolve("disk0.img"), rwBytes);
            SnapshotStore.open(store0).close();
            assertThat(stale).doesNotExist();
            assertThat(live.disks().getFirst().image()).exists();
        } finally {
            live.takeMemory().close();
            live.release();
        }
    }

    // ---- hostile layers ----------------------------------------------------------------------

    private void rejected(String name, Verification v, LayerId layer, String reason) {
        long before = Restorer.mappingsCreated();
        assertThatThrownBy(() -> store.restore(name, v).close()).isInstanceOf(CorruptLayerException.class)
                .hasMessageContaining(layer.hex()).hasMessageContaining(reason);
        assertThat(Restorer.mappingsCreated()).as("nothing mapped").isEqualTo(before);
    }

    @Test
    void aMissingTruncatedOrGrownDiskIsRejectedBeforeMapping() throws IOException {
        LayerId id = writeWithDisks("s");
        Path d0 = layerFile(id, "disk0.img");
        Tamper.truncate(d0, 4096);
        rejected("s", Verification.METADATA, id, "disk0.img is 4096 bytes but the manifest says " + rwBytes.length);
        Tamper.truncate(d0, rwBytes.length + 1L);
        rejected("s", Verification.METADATA, id, "(overwritten or appended to)");
        Files.delete(d0);
        rejected("s", Verification.METADATA, id, "disk0.img is missing");
    }

    @Test
    void aDiskReplacedByASymbolicLinkIsRejected() throws IOException {
        LayerId id = writeWithDisks("s");
        Path d1 = layerFile(id, "disk1.img");
        Path secret = Files.write(dir.resolve("host-secret"), roBytes); // same size, so only the link gives it away
        Files.delete(d1);
        Files.createSymbolicLink(d1, secret);
        rejected("s", Verification.METADATA, id, "disk1.img is not a regular file (it is a symbolic link)");
    }

    @Test
    void aCorruptDiskFailsFullVerificationAndVerify() throws IOException {
        LayerId id = writeWithDisks("s");
        Tamper.flipByte(layerFile(id, "disk0.img"), 1000);
        store.restore("s").close(); // metadata checks only read sizes
        rejected("s", Verification.FULL, id, "disk0.img fails its checksum");
        assertThat(store.verify().problems()).anySatisfy(p -> assertThat(p.toString()).contains("disk0.img fails its checksum"));
    }

    @Test
    void craftedDiskEntriesAreRejected() throws Exception {
        LayerId id = writeWithDisks("s");
        Map<String, Consumer<ObjectNode>> edits = new LinkedHashMap<>();
        edits.put("field 'files' has unknown field 'disk2.img'", m -> ((ObjectNode) m.get("files"))
                .putObject("disk2.img").put("size", 0).put("crc32c", "00000000"));
        edits.put("field 'files' has unknown field '../../../etc/passwd'", m -> ((ObjectNode) m.get("files"))
                .putObject("../../../etc/passwd").put("size", 0).put("crc32c", "00000000"));
        edits.put("field 'files' lacks field 'disk1.img'", m -> ((ObjectNode) m.get("files")).remove("disk1.img"));
        edits.put("disk entry 0 has unknown field 'path'", m -> ((ObjectNode) m.get("disks").get(0))
                .put("path", "/etc/passwd"));
        edits.put("disk entry 1 lacks field 'readOnly'", m -> ((ObjectNode) m.get("disks").get(1)).remove("readOnly"));
        edits.put("disk entry 0 field 'readOnly' is not a boolean", m -> ((ObjectNode) m.get("disks").get(0))
                .put("readOnly", "no"));
        edits.put("disk entry 0 has an id longer than 20 bytes", m -> ((ObjectNode) m.get("disks").get(0))
                .put("id", "x".repeat(21)));
        edits.put("field 'disks' is not an array", m -> m.put("disks", "disk0.img"));
        edits.put("field 'disks' has 0 entries", m -> {
            m.putArray("disks");
            ((ObjectNode) m.get("files")).remove(List.of("disk0.img", "disk1.img"));
        });
        edits.put("manifest lacks field 'disks'", m -> m.remove("disks"));
        edits.put("manifest has unknown field 'disks'", m -> m.put("formatVersion", 1));
        edits.put("file entry 'disk0.img' has size 72057594037927937", m -> ((ObjectNode) m.get("files").get("disk0.img"))
                .put("size", (1L << 56) + 1));
        ArrayNode tooMany = new com.fasterxml.jackson.databind.ObjectMapper().createArrayNode();
        for (int i = 0; i < 65; i++) {
            tooMany.addObject().put("id", "d").put("readOnly", true);
        }
        edits.put("field 'disks' has 65 entries", m -> m.set("disks", tooMany));
        LayerId cur = id;
        for (var e : edits.entrySet()) {
            byte[] original = Files.readAllBytes(Tamper.layerDir(store0, cur).resolve("manifest.json"));
            LayerId bad = Tamper.rewriteManifest(store0, cur, e.getValue());
            rejected("s", Verification.METADATA, bad, e.getKey());
            // Put the original back for the next edit.
            Files.write(Tamper.layerDir(store0, bad).resolve("manifest.json"), original);
            Files.move(Tamper.layerDir(store0, bad), Tamper.layerDir(store0, id));
            Tamper.repoint(store0, bad, id);
            cur = id;
        }
        try (RestoredSnapshot r = store.restore("s", Verification.FULL)) {
            assertThat(r.disks()).hasSize(2);
        }
    }

    @Test
    void writingADiskThatDoesNotExistFailsAndLeavesNoLayer() throws IOException {
        try (GuestMemory mem = TestMemory.create(PS, 0, 8L * PS)) {
            assertThatThrownBy(() -> store.writeFull("x", mem, Map.of(), List.of(Disk.of(dir.resolve("nope.img")))))
                    .isInstanceOf(SnapshotException.class).hasMessageContaining("nope.img");
        }
        assertThat(store.list()).isEmpty();
        try (Stream<Path> s = Files.list(store0.resolve("layers"))) {
            assertThat(s.toList()).isEmpty();
        }
        try (Stream<Path> s = Files.list(store0.resolve("tmp"))) {
            assertThat(s.toList()).isEmpty();
        }
    }

    @Test
    void sparseDisksStaySparseEnoughToBeCloned() throws IOException {
        // A 64 MiB sparse image (as mkfs leaves it) clones and checksums like any other.
        Path sparse = disks.resolve("sparse.img");
        try (RandomAccessFile f = new RandomAccessFile(sparse.toFile(), "rw")) {
            f.setLength(64L << 20);
            f.seek(32L << 20);
            f.write(new byte[] {1, 2, 3});
        }
        try (GuestMemory mem = TestMemory.create(PS, 0, 8L * PS)) {
            store.writeFull("sp", mem, Map.of(), List.of(Disk.of(sparse)));
        }
        try (RestoredSnapshot r = store.restore("sp", Verification.FULL)) {
            assertThat(Files.size(r.disks().getFirst().image())).isEqualTo(64L << 20);
        }
    }
}
