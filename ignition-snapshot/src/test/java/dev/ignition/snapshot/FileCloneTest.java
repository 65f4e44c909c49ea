package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ignition.internal.posix.Libc;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FICLONE for real on a loop-mounted xfs with reflink (needs root and Debian's xfsprogs; skips
 * with the reason otherwise), and the copying fallback on a filesystem that cannot clone.
 */
class FileCloneTest {
    @TempDir Path dir;

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(11).nextBytes(b);
        return b;
    }

    @Test
    void fallsBackToACopyWhereTheFilesystemCannotClone() throws IOException {
        // ext4 and tmpfs have no reflink: FICLONE fails with EOPNOTSUPP/EXDEV and the bytes are copied.
        Path src = dir.resolve("disk.img");
        Files.write(src, random(300_000));
        String fs = Files.getFileStore(dir).type();
        assumeTrue(List.of("ext4", "ext3", "ext2", "tmpfs").contains(fs), "needs a non-cloning filesystem, have " + fs);
        CloneMethod how = FileClone.cloneOrCopy(src, dir.resolve("copy.img"));
        assertThat(how).isEqualTo(CloneMethod.COPY);
        assertThat(Files.readAllBytes(dir.resolve("copy.img"))).isEqualTo(Files.readAllBytes(src));
        assertThatThrownBy(() -> FileClone.cloneOrCopy(src, dir.resolve("copy.img")))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("already exists");
        assertThatThrownBy(() -> FileClone.cloneOrCopy(dir.resolve("missing"), dir.resolve("x")))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("not a regular file");
    }

    static String run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out.strip());
        }
        return out;
    }

    private static boolean executable(String path) {
        return Files.isExecutable(Path.of(path));
    }

    @Test
    void ficloneSharesExtentsOnXfsWithReflink() throws Exception {
        assumeTrue(Libc.OS == Libc.Os.LINUX, "FICLONE is Linux-only");
        assumeTrue("root".equals(System.getProperty("user.name")), "loop-mounting an xfs image needs root");
        for (String tool : List.of("/usr/sbin/mkfs.xfs", "/usr/sbin/filefrag", "/usr/bin/mount", "/usr/bin/umount")) {
            assumeTrue(executable(tool), tool + " is missing (Debian packages: xfsprogs, e2fsprogs, mount)");
        }
        Path img = dir.resolve("xfs.img");
        Path mnt = dir.resolve("mnt");
        Files.createDirectories(mnt);
        try (var f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(320L << 20); // xfs's minimum size is 300 MiB; the file is sparse
        }
        run("/usr/sbin/mkfs.xfs", "-q", "-m", "reflink=1", img.toString());
        try {
            run("/usr/bin/mount", "-o", "loop", img.toString(), mnt.toString());
        } catch (IOException e) {
            assumeTrue(false, "cannot loop-mount an xfs image here: " + e.getMessage());
        }
        try {
            Path src = mnt.resolve("memory.img");
            byte[] data = random(8 << 20);
            Files.write(src, data);
            run("/usr/bin/sync");
            Path clone = mnt.resolve("clone.img");
            assertThat(FileClone.cloneOrCopy(src, clone)).isEqualTo(CloneMethod.FICLONE);
            assertThat(Files.readAllBytes(clone)).isEqualTo(data);
            List<String> srcExtents = extents(run("/usr/sbin/filefrag", "-v", src.toString()));
            List<String> cloneExtents = extents(run("/usr/sbin/filefrag", "-v", clone.toString()));
            assertThat(cloneExtents).isNotEmpty().allSatisfy(e -> assertThat(e).contains("shared"));
            assertThat(srcExtents).allSatisfy(e -> assertThat(e).contains("shared"));
            // Same physical blocks: the physical_offset columns match.
            assertThat(physical(cloneExtents)).isEqualTo(physical(srcExtents));
            // Copy-on-write: writing the clone leaves the source alone.
            try (var f = new RandomAccessFile(clone.toFile(), "rw")) {
                f.seek(4096);
                f.write(new byte[4096]);
            }
            assertThat(Files.readAllBytes(src)).isEqualTo(data);
        } finally {
            run("/usr/bin/umount", mnt.toString());
        }
    }

    /** The extent lines of {@code filefrag -v} output (they start with an extent number and a colon). */
    private static List<String> extents(String filefrag) {
        List<String> out = new ArrayList<>();
        for (String line : filefrag.split("\n")) {
            if (line.strip().matches("\\d+:.*")) {
                out.add(line);
            }
        }
        return out;
    }

    private static List<String> physical(List<String> extentLines) {
        return extentLines.stream().map(l -> l.split(":")[2].strip()).toList();
    }
}
