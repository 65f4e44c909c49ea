package dev.ignition.snapshot;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A small ext4 file system in a file, loop-mounted for one test (ENOSPC, read-only media). Needs
 * root and mkfs.ext4; a test that cannot have one is skipped, saying why.
 */
final class LoopFs implements AutoCloseable {
    private final Path image;
    private final Path mount;
    private boolean mounted;

    private LoopFs(Path image, Path mount) {
        this.image = image;
        this.mount = mount;
    }

    /** Mounts a new {@code mib} MiB ext4 file system (no blocks reserved for root) under {@code dir}. */
    static LoopFs create(Path dir, int mib) throws IOException {
        assumeTrue("root".equals(System.getProperty("user.name")),
                "loop-mounting a file system needs root; running as " + System.getProperty("user.name"));
        LoopFs fs = new LoopFs(dir.resolve("fs.img"), Files.createDirectories(dir.resolve("mnt")));
        try (var f = FileChannel.open(fs.image, StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE)) {
            f.truncate(0);
            f.write(ByteBuffer.wrap(new byte[1]), (long) mib * 1024 * 1024 - 1);
        }
        assumeTrue(run("mkfs.ext4", "-q", "-F", "-m", "0", fs.image.toString()) == 0, "mkfs.ext4 failed or is missing");
        assumeTrue(run("mount", "-o", "loop", fs.image.toString(), fs.mount.toString()) == 0,
                "cannot loop-mount a file system here (mount -o loop failed)");
        fs.mounted = true;
        return fs;
    }

    Path root() {
        return mount;
    }

    /** Remounts the file system read-only: every write fails with EROFS, root's too. */
    void remountReadOnly() {
        if (run("mount", "-o", "remount,ro", mount.toString()) != 0) {
            throw new IllegalStateException("cannot remount " + mount + " read-only");
        }
    }

    /** Fills the file system with {@code filler}, then frees {@code leaveBytes} of it. */
    void fill(Path filler, long leaveBytes) throws IOException {
        byte[] block = new byte[1 << 16];
        Arrays.fill(block, (byte) 0x5a);
        try (var out = Files.newOutputStream(filler)) {
            while (true) {
                out.write(block);
            }
        } catch (IOException full) {
            if (!String.valueOf(full.getMessage()).contains("No space left")) {
                throw full;
            }
        }
        try (var ch = FileChannel.open(filler, StandardOpenOption.WRITE)) {
            ch.truncate(Math.max(0, ch.size() - leaveBytes));
            ch.force(true);
        }
    }

    private static int run(String... command) {
        try {
            Process p = new ProcessBuilder(List.of(command)).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return -1;
            }
            return p.exitValue();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    @Override
    public void close() {
        if (mounted) {
            mounted = run("umount", mount.toString()) != 0 && run("umount", "-l", mount.toString()) != 0;
        }
    }
}
