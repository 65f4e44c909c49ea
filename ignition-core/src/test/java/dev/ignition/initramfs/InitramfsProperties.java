package dev.ignition.initramfs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.hosttools.HostTool;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/** Round trips random trees through the writer and a strict reader, and through GNU {@code cpio -i}. */
class InitramfsProperties {
    /** One builder call; applied in order, later calls replace earlier ones at the same path. */
    record Op(String kind, String path, int mode, byte[] data, int major, int minor) {
        @Override
        public String toString() {
            return kind + " " + path + " 0" + Integer.toOctalString(mode) + " " + data.length + "B";
        }
    }

    @Property(tries = 300)
    void roundTripsThroughTheReader(@ForAll("trees") List<Op> ops) {
        Map<String, InitramfsEntry> model = model(ops, true);
        Initramfs fs = apply(ops, true);
        assertThat(fs.entries()).containsExactlyElementsOf(model.values());

        List<CpioNewcReader.Record> records = CpioNewcReader.read(fs.toByteArray());
        List<InitramfsEntry> decoded = new ArrayList<>();
        long ino = 1;
        for (CpioNewcReader.Record r : records) {
            assertThat(r.ino()).isEqualTo(ino++);
            assertThat(r.uid()).isZero();
            assertThat(r.mtime()).isZero();
            decoded.add(decode(r));
        }
        assertThat(decoded).containsExactlyElementsOf(model.values());
        assertThat(fs.toByteArray()).isEqualTo(fs.toBuilder().build().toByteArray());
    }

    @Property(tries = 12)
    @AddLifecycleHook(HostTool.NeedsCpio.class)
    void gnuCpioExtractsExactlyTheModel(@ForAll("trees") List<Op> ops) throws Exception {
        Path cpio = HostTool.CPIO.find().orElseThrow();
        boolean root = "root".equals(System.getProperty("user.name"));
        Initramfs fs = apply(ops, root);
        Map<String, InitramfsEntry> model = model(ops, root);
        Path dir = Files.createTempDirectory("ignition-cpio");
        try {
            Process p = new ProcessBuilder(cpio.toString(), "-i", "-d", "--no-absolute-filenames", "--quiet")
                    .directory(dir.toFile()).redirectErrorStream(true).start();
            try (var in = p.getOutputStream()) {
                in.write(fs.toByteArray());
            }
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as("cpio said: %s", output).isZero();

            List<String> extracted;
            try (Stream<Path> walk = Files.walk(dir)) {
                extracted = walk.filter(x -> !x.equals(dir)).map(x -> "/" + dir.relativize(x)).sorted().toList();
            }
            assertThat(extracted).containsExactlyElementsOf(model.keySet());
            for (InitramfsEntry e : model.values()) {
                Path x = dir.resolve(e.path().substring(1));
                int mode = (Integer) Files.getAttribute(x, "unix:mode", LinkOption.NOFOLLOW_LINKS);
                switch (e) {
                    case InitramfsEntry.File f -> {
                        assertThat(Files.isRegularFile(x, LinkOption.NOFOLLOW_LINKS)).isTrue();
                        assertThat(Files.readAllBytes(x)).isEqualTo(f.content());
                        assertThat(mode & 07777).isEqualTo(f.mode());
                    }
                    case InitramfsEntry.Directory d -> {
                        assertThat(Files.isDirectory(x, LinkOption.NOFOLLOW_LINKS)).isTrue();
                        assertThat(mode & 07777).isEqualTo(d.mode());
                    }
                    case InitramfsEntry.Symlink s -> assertThat(Files.readSymbolicLink(x).toString()).isEqualTo(s.target());
                    case InitramfsEntry.Device d -> {
                        assertThat(mode & 0170000).isEqualTo(
                                d.kind() == InitramfsEntry.DeviceKind.CHARACTER ? 0020000 : 0060000);
                        assertThat(mode & 07777).isEqualTo(d.mode());
                        long rdev = (Long) Files.getAttribute(x, "unix:rdev", LinkOption.NOFOLLOW_LINKS);
                        assertThat(rdev).isEqualTo(makedev(d.major(), d.minor()));
                    }
                }
            }
        } finally {
            deleteTree(dir);
        }
    }

    @Provide
    Arbitrary<List<Op>> trees() {
        Arbitrary<String> dirs = Arbitraries.of("d1", "d2", "d3").list().ofMaxSize(3).map(l -> String.join("/", l));
        Arbitrary<byte[]> data = Arbitraries.bytes().array(byte[].class).ofMaxSize(600);
        // Permission bits GNU cpio restores as they are for a root or non-root extraction alike.
        Arbitrary<Integer> fileMode = Arbitraries.integers().between(0, 0777).map(m -> m | 0600);
        Arbitrary<Integer> dirMode = Arbitraries.integers().between(0, 0777).map(m -> m | 0700);
        Arbitrary<Op> file = Combinators.combine(dirs, Arbitraries.of("f1", "f2", "f3"), fileMode, data)
                .as((d, n, m, b) -> new Op("file", join(d, n), m, b, 0, 0));
        Arbitrary<Op> dir = Combinators.combine(dirs.filter(d -> !d.isEmpty()), dirMode)
                .as((d, m) -> new Op("dir", "/" + d, m, new byte[0], 0, 0));
        Arbitrary<Op> link = Combinators.combine(dirs, Arbitraries.of("l1", "l2"),
                        Arbitraries.strings().withChars("abc/._-é").ofMinLength(1).ofMaxLength(40))
                .as((d, n, t) -> new Op("link", join(d, n), 0777, t.getBytes(StandardCharsets.UTF_8), 0, 0));
        Arbitrary<Op> dev = Combinators.combine(dirs, Arbitraries.of("c1", "b1"), fileMode,
                        Arbitraries.integers().between(0, 4095), Arbitraries.integers().between(0, 0xfffff))
                .as((d, n, m, ma, mi) -> new Op(n.startsWith("c") ? "chr" : "blk", join(d, n), m, new byte[0], ma, mi));
        return Arbitraries.frequencyOf(
                        Tuple.of(5, file), Tuple.of(2, dir),
                        Tuple.of(2, link), Tuple.of(1, dev))
                .list().ofMaxSize(25);
    }

    private static String join(String dir, String name) {
        return dir.isEmpty() ? "/" + name : "/" + dir + "/" + name;
    }

    private static Initramfs apply(List<Op> ops, boolean devices) {
        Initramfs.Builder b = Initramfs.builder();
        for (Op op : ops) {
            switch (op.kind()) {
                case "file" -> b.file(op.path(), op.data(), op.mode());
                case "dir" -> b.directory(op.path(), op.mode());
                case "link" -> b.symlink(op.path(), new String(op.data(), StandardCharsets.UTF_8));
                case "chr" -> {
                    if (devices) {
                        b.charDevice(op.path(), op.mode(), op.major(), op.minor());
                    }
                }
                case "blk" -> {
                    if (devices) {
                        b.blockDevice(op.path(), op.mode(), op.major(), op.minor());
                    }
                }
                default -> throw new AssertionError(op.kind());
            }
        }
        return b.build();
    }

    /** What the archive should hold: last write wins, parents implied as 0755 directories. */
    private static Map<String, InitramfsEntry> model(List<Op> ops, boolean devices) {
        TreeMap<String, InitramfsEntry> m = new TreeMap<>();
        for (Op op : ops) {
            InitramfsEntry e = switch (op.kind()) {
                case "file" -> new InitramfsEntry.File(op.path(), op.mode(), op.data());
                case "dir" -> new InitramfsEntry.Directory(op.path(), op.mode());
                case "link" -> new InitramfsEntry.Symlink(op.path(), new String(op.data(), StandardCharsets.UTF_8));
                case "chr" -> new InitramfsEntry.Device(op.path(), op.mode(), InitramfsEntry.DeviceKind.CHARACTER,
                        op.major(), op.minor());
                default -> new InitramfsEntry.Device(op.path(), op.mode(), InitramfsEntry.DeviceKind.BLOCK,
                        op.major(), op.minor());
            };
            if (e instanceof InitramfsEntry.Device && !devices) {
                continue;
            }
            for (int i = op.path().indexOf('/', 1); i > 0; i = op.path().indexOf('/', i + 1)) {
                m.putIfAbsent(op.path().substring(0, i), new InitramfsEntry.Directory(op.path().substring(0, i), 0755));
            }
            m.put(op.path(), e);
        }
        return m;
    }

    private static InitramfsEntry decode(CpioNewcReader.Record r) {
        String path = "/" + r.name();
        int perm = r.mode() & 07777;
        return switch (r.mode() & 0170000) {
            case 0100000 -> new InitramfsEntry.File(path, perm, r.data());
            case 0040000 -> new InitramfsEntry.Directory(path, perm);
            case 0120000 -> new InitramfsEntry.Symlink(path, new String(r.data(), StandardCharsets.UTF_8));
            case 0020000 -> new InitramfsEntry.Device(path, perm, InitramfsEntry.DeviceKind.CHARACTER, r.rdevMajor(),
                    r.rdevMinor());
            case 0060000 -> new InitramfsEntry.Device(path, perm, InitramfsEntry.DeviceKind.BLOCK, r.rdevMajor(),
                    r.rdevMinor());
            default -> throw new AssertionError("unexpected type in mode 0" + Integer.toOctalString(r.mode()));
        };
    }

    /** glibc's makedev encoding, which is what {@code unix:rdev} reports. */
    private static long makedev(long major, long minor) {
        return ((major & 0xfffff000L) << 32) | ((major & 0xfffL) << 8) | ((minor & 0xffffff00L) << 12) | (minor & 0xffL);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path x : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(x);
            }
        }
    }
}
