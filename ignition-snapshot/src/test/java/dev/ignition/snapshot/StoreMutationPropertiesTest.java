package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ignition.device.Disk;
import dev.ignition.memory.GuestMemory;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.statistics.Statistics;
import org.jspecify.annotations.Nullable;

/**
 * The store's answer to a hostile store, as a property over random single-file mutations of a
 * store holding a full layer and three diffs (the last two with disks): flip a byte, truncate,
 * extend, replace by a symbolic link (to a valid copy outside the store, to another file of the
 * store, to a device) or by a hard link to another file of the store, replace by a FIFO, swap two
 * layers' files, two layer directories or two names, or write huge, negative or out-of-range
 * numbers into a manifest field (re-hashed, so only the number is wrong).
 *
 * <p>Then, each within {@link #BOUND}: {@code restore(name, FULL)} of every name is byte-exact
 * (memory, state, disks) or throws a documented exception naming the layer, the name or the store
 * folder; {@code verify()} returns a report; and when that report is clean every name restores
 * byte-exact with either verification policy. No message quotes a file outside the store, and
 * nothing outside the store is deleted.
 */
class StoreMutationPropertiesTest {
    static final int PS = 4096;
    static final Duration BOUND = Duration.ofSeconds(10);
    static final String SECRET = "host-secret-c0ffee-5ca1ab1e";
    static final String[] NAMES = {"n0", "n1", "n2", "n3"};

    /** What a name restores to: memory in layout order, state blobs and disk contents. */
    record Expected(byte[] memory, Map<String, byte[]> state, List<byte[]> disks) {}

    /** The pristine store, built once; every try mutates a fresh copy. */
    private static final class Template {
        final Path root = TestMemory.tempDir("mutation-template");
        final Path store = root.resolve("store");
        /** Layer id to what it restores to (names resolve through the layer they point at). */
        final Map<LayerId, Expected> byLayer = new HashMap<>();

        Template() throws IOException {
            Random rnd = new Random(2026);
            Path rw = root.resolve("rw.img");
            Path ro = Files.write(root.resolve("ro.img"), random(rnd, 4096));
            try (SnapshotStore s = SnapshotStore.open(store);
                 GuestMemory mem = TestMemory.create(PS, 0, 12L * PS, 0x100000, 8L * PS)) {
                for (int p = 0; p < 20; p += 2) {
                    TestMemory.fillPage(mem, p, rnd);
                }
                record(s.writeFull("n0", mem, Map.of("cpu", new byte[] {0, 1}, "dev", random(rnd, 100))).layer(),
                        mem, List.of());
                mem.drainHostDirty(0);
                for (int i = 1; i <= 3; i++) {
                    for (int k = 0; k < 1 + i; k++) {
                        TestMemory.fillPage(mem, rnd.nextInt(20), rnd);
                    }
                    List<Disk> disks = List.of();
                    if (i >= 2) {
                        Files.write(rw, random(rnd, 8192));
                        disks = List.of(Disk.of(rw).withId("data"), Disk.of(ro).asReadOnly().withId("ref"));
                    }
                    WriteResult w = s.writeDiff("n" + i, "n" + (i - 1), mem, DirtyPages.drainHost(mem),
                            Map.of("cpu", new byte[] {(byte) i}), disks);
                    record(w.layer(), mem, disks);
                }
            }
        }

        private void record(LayerInfo layer, GuestMemory mem, List<Disk> disks) throws IOException {
            List<byte[]> d = new ArrayList<>();
            for (Disk disk : disks) {
                d.add(Files.readAllBytes(disk.image()));
            }
            byLayer.put(layer.id(), new Expected(TestMemory.bytes(mem), null, d));
        }
    }

    private static Template template;

    private static synchronized Template template() throws IOException {
        if (template == null) {
            template = new Template();
            // State is recorded from a clean restore, the reference for every try.
            try (SnapshotStore s = SnapshotStore.open(template.store)) {
                for (String n : NAMES) {
                    try (RestoredSnapshot r = s.restore(n, Verification.FULL)) {
                        Expected e = template.byLayer.get(r.layer().id());
                        template.byLayer.put(r.layer().id(), new Expected(e.memory(), r.state(), e.disks()));
                    }
                }
            }
        }
        return template;
    }

    @AfterContainer
    static void removeTemplate() {
        if (template != null) {
            TestMemory.deleteTree(template.root);
            template = null;
        }
    }

    private static byte[] random(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    enum Kind { FLIP, TRUNCATE, EXTEND, LINK_OUTSIDE, LINK_INSIDE, HARD_LINK_INSIDE, LINK_DEVICE, FIFO,
        SWAP_LAYER_FILES, SWAP_LAYER_DIRS, SWAP_NAMES, MANIFEST_NUMBER }

    /** Interesting numbers for a manifest field: huge, negative, just past limits, beyond 64 bits. */
    static final List<Object> NUMBERS = List.of(-1L, 0L, 1L, 4095L, 8192L, 1L << 20, (1L << 31) - 1, 1L << 31,
            1L << 32, (1L << 56) + 1, Long.MAX_VALUE, Long.MIN_VALUE, new BigInteger("18446744073709551616"),
            -4096L, 3L * PS, 1L << 28);
    /** Numeric manifest fields, as paths: object keys and array indexes. */
    static final List<String[]> FIELDS = List.of(new String[] {"formatVersion"}, new String[] {"pageSize"},
            new String[] {"storedPages"}, new String[] {"layout", "0", "size"},
            new String[] {"layout", "0", "guestAddress"}, new String[] {"layout", "1", "guestAddress"},
            new String[] {"files", "state.bin", "size"}, new String[] {"files", "pages.idx", "size"},
            new String[] {"files", "pages.bin", "size"}, new String[] {"files", "memory.img", "size"},
            new String[] {"files", "disk0.img", "size"}, new String[] {"state", "0", "offset"},
            new String[] {"state", "0", "length"});

    @Property(tries = 400)
    void aMutatedStoreRestoresExactlyOrFailsNamingTheLayer(@ForAll Kind kind, @ForAll long choices,
            @ForAll boolean afterOpen) throws Exception {
        // Uniform choices of file, offset and value (jqwik's edge cases would pick the first file often).
        Random pick = new Random(choices);
        int target = pick.nextInt(1 << 20);
        int arg = pick.nextInt(1 << 20);
        int other = pick.nextInt(1 << 20);
        Template t = template();
        Path root = TestMemory.tempDir("mutation");
        Path dir = root.resolve("store");
        Path outside = Files.createDirectories(root.resolve("outside"));
        Path secret = Files.writeString(outside.resolve("secret"), SECRET + "\n");
        try {
            copyTree(t.store, dir);
            Map<LayerId, Expected> expected = new HashMap<>(t.byLayer);
            SnapshotStore store = null;
            if (afterOpen) {
                store = SnapshotStore.open(dir);
            }
            String what = mutate(kind, dir, outside, secret, target, arg, other, expected);
            try {
                if (store == null) {
                    store = openOrRefuse(dir, what);
                    if (store == null) {
                        Statistics.label("outcome").collect(kind, "open refused");
                        return;
                    }
                }
                Statistics.label("outcome").collect(kind, check(store, expected, what));
            } finally {
                if (store != null) {
                    store.close();
                }
            }
            assertThat(Files.readString(secret)).as("outside file untouched").isEqualTo(SECRET + "\n");
            assertOutsideCopiesIntact(outside);
        } finally {
            TestMemory.deleteTree(root);
        }
    }

    /** Opens the store, or checks that the refusal names a store file; null if refused. */
    private static SnapshotStore openOrRefuse(Path dir, String what) {
        try {
            return assertTimeoutPreemptively(BOUND, () -> SnapshotStore.open(dir), what);
        } catch (SnapshotException e) {
            assertThat(e).as(what).isNotInstanceOf(CorruptLayerException.class)
                    .hasMessageContaining("store").hasMessageNotContaining(SECRET);
            return null;
        }
    }

    /** @return a label for the statistics: whether verify found a problem */
    private static String check(SnapshotStore store, Map<LayerId, Expected> expected, String what) {
        int refused = 0;
        for (String n : NAMES) {
            refused += restoreExactOrRefused(store, n, Verification.FULL, expected, what) ? 0 : 1;
        }
        VerifyReport report = assertTimeoutPreemptively(BOUND, store::verify, what);
        for (VerifyReport.Problem p : report.problems()) {
            assertThat(p.toString()).as(what).doesNotContain(SECRET);
        }
        if (report.ok()) {
            // The point of verify: a clean report means every restore gives the layer's exact bytes.
            for (String n : NAMES) {
                for (Verification v : Verification.values()) {
                    RestoredSnapshot r = assertTimeoutPreemptively(BOUND, () -> store.restore(n, v),
                            what + ": verify was clean, so restore(" + n + ", " + v + ") must succeed");
                    try (r) {
                        assertExact(r, expected, what + " " + n + " " + v);
                    }
                }
            }
            return "verify clean, all exact";
        }
        return "verify found problems, " + refused + " of 4 restores refused";
    }

    /** @return true if restored exactly, false if refused as documented */
    private static boolean restoreExactOrRefused(SnapshotStore store, String name, Verification v,
            Map<LayerId, Expected> expected, String what) {
        RestoredSnapshot r;
        try {
            r = assertTimeoutPreemptively(BOUND, () -> store.restore(name, v), what + " restore " + name);
        } catch (CorruptNameException e) {
            assertThat(e.name()).as(what).isEqualTo(name);
            assertThat(e).hasMessageContaining("'" + name + "'").hasMessageNotContaining(SECRET);
            return false;
        } catch (CorruptLayerException e) {
            assertThat(LayerId.isValid(e.layer())).as(what + ": names a layer id: " + e.getMessage()).isTrue();
            assertThat(e).as(what).hasMessageContaining(e.layer()).hasMessageNotContaining(SECRET);
            return false;
        } catch (SnapshotException e) {
            // Only store-level damage (a top-level folder) is reported without a layer.
            assertThat(e).as(what).hasMessageContaining(" of store ").hasMessageNotContaining(SECRET);
            return false;
        }
        try (r) {
            assertExact(r, expected, what + " " + name + " " + v);
        }
        return true;
    }

    private static void assertExact(RestoredSnapshot r, Map<LayerId, Expected> expected, String what) {
        Expected e = expected.get(r.layer().id());
        assertThat(e).as(what + ": restored a layer of the store").isNotNull();
        assertThat(Arrays.equals(TestMemory.bytes(r.memory()), e.memory())).as(what + ": memory bytes").isTrue();
        assertThat(r.state().keySet()).as(what).isEqualTo(e.state().keySet());
        r.state().forEach((k, b) -> assertThat(b).as(what + ": state " + k).isEqualTo(e.state().get(k)));
        assertThat(r.disks()).as(what).hasSize(e.disks().size());
        for (int i = 0; i < e.disks().size(); i++) {
            Path img = r.disks().get(i).image();
            assertThat(Files.isSymbolicLink(img)).as(what).isFalse();
            try {
                assertThat(Files.readAllBytes(img)).as(what + ": disk " + i).isEqualTo(e.disks().get(i));
            } catch (IOException ex) {
                throw new AssertionError(what + ": disk " + i + " unreadable after a successful restore", ex);
            }
        }
    }

    // ---- mutations -----------------------------------------------------------------------------

    /** Applies one mutation; returns its description for assertion messages. */
    private static String mutate(Kind kind, Path dir, Path outside, Path secret, int target, int arg, int other,
            Map<LayerId, Expected> expected) throws Exception {
        List<Path> files = entries(dir, false);
        Path f = files.get(target % files.size());
        String rel = dir.relativize(f).toString();
        switch (kind) {
            case FLIP -> {
                long size = Files.size(f);
                if (size == 0) {
                    Files.write(f, new byte[] {1});
                    return "extend empty " + rel;
                }
                long at = arg % size;
                Tamper.flipByte(f, at);
                return "flip " + rel + " @" + at;
            }
            case TRUNCATE -> {
                long size = Files.size(f);
                long to = size == 0 ? 0 : arg % size;
                Tamper.truncate(f, to);
                return "truncate " + rel + " to " + to;
            }
            case EXTEND -> {
                long by = 1 + arg % 9000;
                Tamper.truncate(f, Files.size(f) + by);
                return "extend " + rel + " by " + by;
            }
            case LINK_OUTSIDE -> {
                // A link to an exact copy: only the link is wrong. Directories too (a top-level folder,
                // a layer directory) — or a link to a file whose content must never be quoted.
                List<Path> all = entries(dir, true);
                Path p = all.get(target % all.size());
                String r = dir.relativize(p).toString();
                if (arg % 4 == 0 && !Files.isDirectory(p)) {
                    TestMemory.deleteTree(p);
                    Files.createSymbolicLink(p, secret);
                    return "link " + r + " to an outside file";
                }
                Path copy = outside.resolve("copy-" + r.replace('/', '_'));
                copyTree(p, copy);
                Files.writeString(outside.resolve("copy-" + r.replace('/', '_') + ".list"), String.join("\n",
                        listing(copy)));
                TestMemory.deleteTree(p);
                Files.createSymbolicLink(p, copy);
                return "link " + r + " to a copy outside";
            }
            case LINK_INSIDE -> {
                Path to = files.get(other % files.size());
                TestMemory.deleteTree(f);
                Files.createSymbolicLink(f, to);
                return "link " + rel + " to " + dir.relativize(to);
            }
            case HARD_LINK_INSIDE -> {
                // Not detectable as such (it is a regular file of the store): the checksums must do.
                Path to = files.get(other % files.size());
                if (to.equals(f)) {
                    return "nothing (hard link to itself)";
                }
                Files.delete(f);
                Files.createLink(f, to);
                return "hard link " + rel + " to " + dir.relativize(to);
            }
            case SWAP_LAYER_DIRS -> {
                List<Path> layerDirs;
                try (Stream<Path> ls = Files.list(dir.resolve("layers"))) {
                    layerDirs = ls.sorted().toList();
                }
                Path a = layerDirs.get(target % layerDirs.size());
                Path b = layerDirs.get(other % layerDirs.size());
                if (a.equals(b)) {
                    return "nothing (swap a layer directory with itself)";
                }
                Path tmp = a.resolveSibling("swap");
                Files.move(a, tmp);
                Files.move(b, a);
                Files.move(tmp, b);
                return "swap layer directories " + a.getFileName() + " and " + b.getFileName();
            }
            case LINK_DEVICE -> {
                String dev = arg % 2 == 0 ? "/dev/zero" : "/dev/urandom";
                Files.delete(f);
                Files.createSymbolicLink(f, Path.of(dev));
                return "link " + rel + " to " + dev;
            }
            case FIFO -> {
                Files.delete(f);
                Process pr = new ProcessBuilder("mkfifo", f.toString()).start();
                assertThat(pr.waitFor()).isZero();
                return "fifo " + rel;
            }
            case SWAP_LAYER_FILES -> {
                // The same file of two layers (or two files of one layer), each otherwise intact.
                Path g = files.get(other % files.size());
                if (g.equals(f)) {
                    return "nothing (swap with itself)";
                }
                Path tmp = f.resolveSibling(".swap");
                Files.move(f, tmp);
                Files.move(g, f);
                Files.move(tmp, g);
                return "swap " + rel + " and " + dir.relativize(g);
            }
            case SWAP_NAMES -> {
                // Names carry no checksum: a swapped name restores the other layer's exact bytes.
                Path a = dir.resolve("names").resolve(NAMES[target % 4]);
                Path b = dir.resolve("names").resolve(NAMES[other % 4]);
                byte[] ab = Files.readAllBytes(a);
                Files.write(a, Files.readAllBytes(b));
                Files.write(b, ab);
                return "swap names " + a.getFileName() + " and " + b.getFileName();
            }
            case MANIFEST_NUMBER -> {
                List<LayerId> ids = new ArrayList<>(expected.keySet());
                ids.sort(Comparator.comparing(LayerId::hex));
                LayerId id = ids.get(target % ids.size());
                Object value = NUMBERS.get(other % NUMBERS.size());
                String[] field = {null};
                LayerId newId = Tamper.rewriteManifest(dir, id, m -> {
                    // Only fields this layer has (a full layer has no pages.idx, a layer without disks no disk0.img).
                    List<String[]> present = FIELDS.stream().filter(x -> at(m, x) != null).toList();
                    String[] chosen = present.get(arg % present.size());
                    setNumber(m, chosen, value);
                    field[0] = String.join(".", chosen);
                });
                // Same data files: if the forged manifest passes, it must restore the same bytes.
                expected.put(newId, expected.get(id));
                return "manifest of " + id.shortForm() + ": " + field[0] + " = " + value;
            }
            default -> throw new IllegalStateException(kind.toString());
        }
    }

    /** The node at {@code path} (object keys and array indexes), or null. */
    private static com.fasterxml.jackson.databind.@Nullable JsonNode at(ObjectNode m,
            String[] path) {
        com.fasterxml.jackson.databind.JsonNode node = m;
        for (String p : path) {
            node = node.isArray() ? node.path(Integer.parseInt(p)) : node.path(p);
        }
        return node.isMissingNode() ? null : node;
    }

    private static void setNumber(ObjectNode m, String[] path, Object value) {
        ObjectNode o = (ObjectNode) at(m, Arrays.copyOf(path, path.length - 1));
        String last = path[path.length - 1];
        if (value instanceof BigInteger b) {
            o.put(last, b);
        } else {
            o.put(last, (Long) value);
        }
    }

    /** Every regular file of the store (or also directories), sorted for reproducible choices. */
    private static List<Path> entries(Path dir, boolean withDirs) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> !p.equals(dir))
                    .filter(p -> withDirs ? !Files.isSymbolicLink(p) : Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS))
                    .sorted().toList();
        }
    }

    private static List<String> listing(Path p) throws IOException {
        try (Stream<Path> s = Files.walk(p)) {
            return s.map(x -> p.relativize(x).toString()).sorted().toList();
        }
    }

    /** Every outside copy still holds every entry it had: nothing was deleted through a link. */
    private static void assertOutsideCopiesIntact(Path outside) throws IOException {
        try (Stream<Path> s = Files.list(outside)) {
            for (Path list : s.filter(p -> p.toString().endsWith(".list")).toList()) {
                Path copy = Path.of(list.toString().substring(0, list.toString().length() - ".list".length()));
                assertThat(String.join("\n", listing(copy))).as("outside copy " + copy.getFileName())
                        .isEqualTo(Files.readString(list));
            }
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t, StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
        }
    }
}
