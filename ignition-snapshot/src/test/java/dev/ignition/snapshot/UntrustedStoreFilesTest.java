package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.internal.NativeClone;
import dev.ignition.snapshot.internal.Restorer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The store's own metadata files and folders are untrusted too: links are never followed (not even
 * for the top-level folders, the marker or a name file), special files are never opened, metadata
 * reads are capped, cleanup never deletes through a link, and no content of a file outside the
 * store reaches a message. Fixture: a full layer "base" and a diff "leaf" over it.
 */
class UntrustedStoreFilesTest {
    static final int PS = 4096;
    static final Duration BOUND = Duration.ofSeconds(10);
    /** Content of the outside file that links point at; it must never appear in a message. */
    static final String SECRET = "top-secret-host-content-7f3a";

    @TempDir Path tmp;
    Path dir;
    Path outside;
    Path secret;
    SnapshotStore store;
    LayerId base;
    LayerId leaf;
    byte[] leafBytes;

    @BeforeEach
    void setUp() throws IOException {
        dir = tmp.resolve("store");
        outside = Files.createDirectories(tmp.resolve("outside"));
        secret = Files.writeString(outside.resolve("secret"), SECRET + "\n");
        store = SnapshotStore.open(dir);
        try (GuestMemory mem = TestMemory.create(PS, 0, 16L * PS)) {
            Random rnd = new Random(11);
            for (int p = 0; p < 6; p++) {
                TestMemory.fillPage(mem, p, rnd);
            }
            base = store.writeFull("base", mem, Map.of("cpu", new byte[] {1, 2})).layer().id();
            mem.drainHostDirty(0);
            TestMemory.fillPage(mem, 2, rnd);
            leaf = store.writeDiff("leaf", "base", mem, DirtyPages.drainHost(mem), Map.of("cpu", new byte[] {3}))
                    .layer().id();
            leafBytes = TestMemory.bytes(mem);
        }
    }

    @AfterEach
    void tearDown() {
        store.close();
    }

    private Path layerFile(LayerId id, String name) {
        return Tamper.layerDir(dir, id).resolve(name);
    }

    private static void mkfifo(Path p) throws Exception {
        Process pr = new ProcessBuilder("mkfifo", p.toString()).inheritIO().start();
        assertThat(pr.waitFor()).as("mkfifo " + p).isZero();
    }

    /** Replaces {@code p} (file or directory) with a symbolic link to {@code target}. */
    private static void replaceWithLink(Path p, Path target) throws IOException {
        TestMemory.deleteTree(p);
        Files.createSymbolicLink(p, target);
    }

    /** Runs {@code body} within the time bound; a hang (a FIFO opened) fails the test. */
    private static <T extends Throwable> T failsWithin(Class<T> type, ThrowingRunnable body) {
        return assertTimeoutPreemptively(BOUND, () -> {
            try {
                body.run();
            } catch (Throwable t) {
                assertThat(t).isInstanceOf(type);
                assertThat(t.getMessage()).doesNotContain(SECRET);
                return type.cast(t);
            }
            throw new AssertionError("expected " + type.getSimpleName() + ", but it succeeded");
        });
    }

    @FunctionalInterface
    interface ThrowingRunnable {
        void run() throws Exception;
    }

    private void restoresExactly(String name) {
        try (RestoredSnapshot r = store.restore(name, Verification.FULL)) {
            assertThat(TestMemory.bytes(r.memory())).isEqualTo(leafBytes);
        }
    }

    // ---- top-level folders and the marker ----------------------------------------------------

    @Test
    void layersFolderLinkedToACopyOutsideIsRefusedAndVerifyReportsIt() throws IOException {
        // The copy is valid: following the link would restore (and verify) the outside layers.
        Path copy = outside.resolve("layers");
        copyTree(dir.resolve("layers"), copy);
        replaceWithLink(dir.resolve("layers"), copy);
        SnapshotException e = failsWithin(SnapshotException.class, () -> store.restore("leaf").close());
        assertThat(e).hasMessageContaining("layers/ of store").hasMessageContaining("symbolic link");
        VerifyReport v = store.verify();
        assertThat(v.ok()).isFalse();
        assertThat(v.problems()).singleElement().satisfies(p -> assertThat(p.toString()).contains("layers/")
                .contains("symbolic link"));
        store.close();
        failsWithin(SnapshotException.class, () -> SnapshotStore.open(dir).close());
        assertThat(copy.resolve(leaf.hex()).resolve("manifest.json")).as("outside untouched").exists();
    }

    @Test
    void namesFolderLinkedOutsideIsRefused() throws IOException {
        Path copy = outside.resolve("names");
        copyTree(dir.resolve("names"), copy);
        replaceWithLink(dir.resolve("names"), copy);
        failsWithin(SnapshotException.class, () -> store.restore("leaf").close());
        failsWithin(SnapshotException.class, store::list);
        assertThat(store.verify().ok()).isFalse();
        assertThat(copy.resolve("leaf")).as("outside untouched").exists();
    }

    @Test
    void tmpAndWorkLinkedOutsideAreRefusedOnOpenAndNothingOutsideIsDeleted() throws IOException {
        store.close();
        for (String d : new String[] {"tmp", "work"}) {
            Path victim = Files.createDirectories(outside.resolve(d));
            Files.writeString(victim.resolve("precious"), "keep");
            replaceWithLink(dir.resolve(d), victim);
            SnapshotException e = failsWithin(SnapshotException.class, () -> SnapshotStore.open(dir).close());
            assertThat(e).hasMessageContaining(d + "/ of store").hasMessageContaining("symbolic link");
            assertThat(victim.resolve("precious")).as("nothing deleted through the link").exists();
            Files.delete(dir.resolve(d));
            Files.createDirectory(dir.resolve(d));
        }
        store = SnapshotStore.open(dir);
        restoresExactly("leaf");
    }

    @Test
    void markerLinkedOutsideOrForeignIsRefusedWithoutQuotingIt() throws IOException {
        store.close();
        Path marker = dir.resolve("ignition-store.json");
        Files.writeString(secret, "{\"format\":\"ignition-snapshot-store\",\"formatVersion\":1} " + SECRET);
        replaceWithLink(marker, secret);
        assertThat(failsWithin(SnapshotException.class, () -> SnapshotStore.open(dir).close()))
                .hasMessageContaining("ignition-store.json is not a regular file (it is a symbolic link)");
        Files.delete(marker);
        Files.writeString(marker, "{\"formatVersion\":1,\"x\":\"" + SECRET + "\"}");
        assertThat(failsWithin(SnapshotException.class, () -> SnapshotStore.open(dir).close()))
                .hasMessageContaining("is not an Ignition store marker");
        Files.writeString(marker, "{\"format\":\"ignition-snapshot-store\",\"formatVersion\":2}");
        assertThat(failsWithin(SnapshotException.class, () -> SnapshotStore.open(dir).close()))
                .hasMessageContaining("unsupported ignition-store.json (formatVersion 2;");
        Files.write(marker, new byte[8192]);
        assertThat(failsWithin(SnapshotException.class, () -> SnapshotStore.open(dir).close()))
                .hasMessageContaining("over the 4096-byte limit");
        Files.writeString(marker, "{\"format\":\"ignition-snapshot-store\",\"formatVersion\":1}\n");
        store = SnapshotStore.open(dir);
        restoresExactly("leaf");
    }

    @Test
    void markerOrLockChangedUnderAnOpenStoreIsCaughtByOperationsAndVerify() throws Exception {
        Path marker = dir.resolve("ignition-store.json");
        Files.writeString(marker, "{\"format\":\"something-else\"}");
        VerifyReport v = store.verify();
        assertThat(v.problems()).singleElement().satisfies(p -> assertThat(p.toString())
                .contains("is not an Ignition store marker"));
        restoresExactly("leaf"); // the content is read on open; operations check the entry's type
        replaceWithLink(marker, secret);
        assertThat(failsWithin(SnapshotException.class, () -> store.restore("leaf").close()))
                .hasMessageContaining("ignition-store.json of store").hasMessageContaining("symbolic link");
        assertThat(store.verify().ok()).isFalse();
        Files.delete(marker);
        Files.writeString(marker, "{\"format\":\"ignition-snapshot-store\",\"formatVersion\":1}\n");
        Path lock = dir.resolve("store.lock");
        Files.delete(lock); // the open store keeps its descriptor; the entry is now a FIFO
        mkfifo(lock);
        assertThat(failsWithin(SnapshotException.class, () -> store.restore("leaf").close()))
                .hasMessageContaining("store.lock of store").hasMessageContaining("special file");
        Files.delete(lock);
        Files.createFile(lock);
        restoresExactly("leaf");
        assertThat(store.verify().ok()).isTrue();
    }

    @Test
    void lockFileThatIsAFifoIsRefusedWithoutBlocking() throws Exception {
        store.close();
        Path lock = dir.resolve("store.lock");
        Files.delete(lock);
        mkfifo(lock);
        assertThat(failsWithin(SnapshotException.class, () -> SnapshotStore.open(dir).close()))
                .hasMessageContaining("store.lock is not a regular file (it is a special file");
        Files.delete(lock);
        Files.createSymbolicLink(lock, secret);
        failsWithin(SnapshotException.class, () -> SnapshotStore.open(dir).close());
        assertThat(Files.readString(secret)).isEqualTo(SECRET + "\n");
        Files.delete(lock);
        store = SnapshotStore.open(dir);
    }

    // ---- name files --------------------------------------------------------------------------

    @Test
    void nameFileLinkedToADeviceFailsAtOnceInsteadOfReadingForever() throws IOException {
        for (String dev : new String[] {"/dev/zero", "/dev/urandom"}) {
            replaceWithLink(dir.resolve("names").resolve("leaf"), Path.of(dev));
            CorruptNameException e = failsWithin(CorruptNameException.class, () -> store.restore("leaf").close());
            assertThat(e).hasMessageContaining("snapshot 'leaf': its name file names/leaf is not a regular file"
                    + " (it is a symbolic link)");
            assertThat(e.name()).isEqualTo("leaf");
            assertThat(e.layer()).isEqualTo("names/leaf");
        }
        assertThat(store.verify().problems()).anySatisfy(p -> assertThat(p.toString()).contains("'leaf'")
                .contains("symbolic link"));
    }

    @Test
    void nameFileLinkedToAValidNameElsewhereIsRefused() throws IOException {
        Path elsewhere = Files.writeString(outside.resolve("ref"), leaf.hex() + "\n");
        replaceWithLink(dir.resolve("names").resolve("leaf"), elsewhere);
        failsWithin(CorruptNameException.class, () -> store.restore("leaf").close());
        assertThat(store.verify().ok()).isFalse();
    }

    @Test
    void nameFileThatIsAFifoFailsInsteadOfHanging() throws Exception {
        Path n = dir.resolve("names").resolve("leaf");
        Files.delete(n);
        mkfifo(n);
        assertThat(failsWithin(CorruptNameException.class, () -> store.restore("leaf").close()))
                .hasMessageContaining("is not a regular file (it is a special file (FIFO, socket or device))");
        assertThat(assertTimeoutPreemptively(BOUND, () -> store.verify()).ok()).isFalse();
    }

    @Test
    void oversizedNameFileIsRefusedUnread() throws IOException {
        Files.writeString(dir.resolve("names").resolve("leaf"), leaf.hex() + " ".repeat(100) + SECRET);
        assertThat(failsWithin(CorruptNameException.class, () -> store.restore("leaf").close()))
                .hasMessageContaining("bytes, over the 80-byte limit");
    }

    @Test
    void nameFileThatIsADirectoryIsRefused() throws IOException {
        Path n = dir.resolve("names").resolve("leaf");
        Files.delete(n);
        Files.createDirectory(n);
        assertThat(failsWithin(CorruptNameException.class, () -> store.restore("leaf").close()))
                .hasMessageContaining("(it is a directory)");
    }

    // ---- layer files -------------------------------------------------------------------------

    @Test
    void manifestLinkedToAnOutsideFileNeverQuotesIt() throws IOException {
        replaceWithLink(layerFile(leaf, "manifest.json"), secret);
        long before = Restorer.mappingsCreated();
        assertThat(failsWithin(CorruptLayerException.class, () -> store.restore("leaf").close()))
                .hasMessageContaining(leaf.hex())
                .hasMessageContaining("manifest.json is not a regular file (it is a symbolic link)");
        assertThat(Restorer.mappingsCreated()).isEqualTo(before);
        VerifyReport v = store.verify();
        assertThat(v.problems()).isNotEmpty().allSatisfy(p -> assertThat(p.toString()).doesNotContain(SECRET));
    }

    @Test
    void manifestLinkedToAValidCopyIsStillRefused() throws IOException {
        Path copy = Files.copy(layerFile(base, "manifest.json"), outside.resolve("manifest.json"));
        replaceWithLink(layerFile(base, "manifest.json"), copy);
        failsWithin(CorruptLayerException.class, () -> store.restore("leaf").close());
        assertThat(store.verify().problems()).anySatisfy(p -> assertThat(p.toString()).contains(base.hex())
                .contains("symbolic link"));
    }

    @Test
    void layerDirectoryLinkedToAValidCopyIsRefused() throws IOException {
        Path copy = outside.resolve(base.hex());
        copyTree(Tamper.layerDir(dir, base), copy);
        replaceWithLink(Tamper.layerDir(dir, base), copy);
        assertThat(failsWithin(CorruptLayerException.class, () -> store.restore("leaf").close()))
                .hasMessageContaining("layers/" + base.hex() + " is not a directory (it is a symbolic link)");
        assertThat(store.verify().ok()).isFalse();
        assertThat(store.gc().removed()).as("GC never deletes through a link").isEmpty();
        assertThat(copy.resolve("memory.img")).exists();
    }

    @Test
    void dataFilesThatAreFifosAreRefusedWithoutHanging() throws Exception {
        for (String f : new String[] {"state.bin", "pages.idx", "pages.bin"}) {
            Path p = layerFile(leaf, f);
            Path saved = Files.move(p, outside.resolve(f));
            mkfifo(p);
            assertThat(failsWithin(CorruptLayerException.class, () -> store.restore("leaf", Verification.FULL).close()))
                    .hasMessageContaining(f + " is not a regular file (it is a special file");
            assertThat(assertTimeoutPreemptively(BOUND, () -> store.verify()).ok()).isFalse();
            Files.delete(p);
            Files.move(saved, p);
        }
        restoresExactly("leaf");
    }

    @Test
    void aSparseOversizedStateOrIndexIsACorruptLayerNotAnOutOfMemoryError() throws Exception {
        // Declared sizes a hostile manifest could pair with sparse files of that size.
        LayerId big = Tamper.rewriteManifest(dir, leaf, m -> ((com.fasterxml.jackson.databind.node.ObjectNode)
                m.get("files").get("state.bin")).put("size", 1L << 30));
        assertThat(failsWithin(CorruptLayerException.class, () -> store.restore("leaf").close()))
                .hasMessageContaining(big.hex()).hasMessageContaining("state.bin is declared 1073741824 bytes, over the");
        LayerId idx = Tamper.rewriteManifest(dir, big, m -> {
            ((com.fasterxml.jackson.databind.node.ObjectNode) m.get("files").get("state.bin")).put("size", 1);
            ((com.fasterxml.jackson.databind.node.ObjectNode) m.get("files").get("pages.idx")).put("size", 8L << 20);
        });
        assertThat(failsWithin(CorruptLayerException.class, () -> store.restore("leaf").close()))
                .hasMessageContaining(idx.hex()).hasMessageContaining("more runs than the 1 stored pages");
    }

    @Test
    void cloningADiskOutOfTheStoreNeverFollowsALink() throws IOException {
        Path link = tmp.resolve("disk0.img");
        Files.createSymbolicLink(link, secret);
        assertThatThrownBy(() -> NativeClone.cloneFromStore(link, tmp.resolve("copy.img")))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("symbolic link")
                .hasMessageNotContaining(SECRET);
        assertThat(tmp.resolve("copy.img")).doesNotExist();
        Path real = Files.write(tmp.resolve("real.img"), new byte[] {1, 2, 3});
        NativeClone.cloneFromStore(real, tmp.resolve("copy.img"));
        assertThat(Files.readAllBytes(tmp.resolve("copy.img"))).containsExactly(1, 2, 3);
    }

    // ---- cleanup on open ---------------------------------------------------------------------

    @Test
    void cleanupOfTmpAndWorkNeverDeletesThroughALink() throws Exception {
        store.close();
        Path victim = Files.createDirectories(outside.resolve("victim"));
        Files.writeString(victim.resolve("precious"), "keep");
        Files.createSymbolicLink(dir.resolve("tmp").resolve("x.layer"), victim);
        // A stale working directory (no live lock) holding a link to the victim.
        Path stale = Files.createDirectories(dir.resolve("work").resolve("11111111-2222-3333-4444-555555555555"));
        Files.createFile(stale.resolve("in-use.lock"));
        Files.createSymbolicLink(stale.resolve("disk0.img"), victim);
        // One whose lock is a FIFO (opening it would block) and one whose lock links to the secret.
        Path fifo = Files.createDirectories(dir.resolve("work").resolve("fifo"));
        mkfifo(fifo.resolve("in-use.lock"));
        Path linked = Files.createDirectories(dir.resolve("work").resolve("linked"));
        Files.createSymbolicLink(linked.resolve("in-use.lock"), secret);
        Files.createSymbolicLink(dir.resolve("work").resolve("top-link"), victim);

        store = assertTimeoutPreemptively(BOUND, () -> SnapshotStore.open(dir));
        assertThat(victim.resolve("precious")).as("nothing deleted through a link").exists();
        assertThat(Files.readString(secret)).isEqualTo(SECRET + "\n");
        try (var s = Files.list(dir.resolve("tmp"))) {
            assertThat(s.toList()).isEmpty();
        }
        try (var s = Files.list(dir.resolve("work"))) {
            assertThat(s.toList()).isEmpty();
        }
        assertThat(Files.isDirectory(dir.resolve("work"), LinkOption.NOFOLLOW_LINKS)).isTrue();
        restoresExactly("leaf");
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (var s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t);
                }
            }
        }
    }
}
