package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VirtualMachine;
import dev.ignition.device.Disk;
import dev.ignition.device.Vsock;
import dev.ignition.guest.ExecResult;
import dev.ignition.guest.GuestBuild;
import dev.ignition.guest.GuestNotBuiltException;
import dev.ignition.guest.LinuxGuest;
import dev.ignition.guest.LinuxGuests;
import dev.ignition.guest.ShellSession;
import dev.ignition.testkit.RequiresBackend;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Linux guest with real devices across a snapshot: an ext4 disk whose file survives into the
 * restored VM while the original image stays as it was, and a 1 MiB vsock echo through a guest
 * program, before the snapshot and again in the restored VM.
 */
@Tag("linux-guest")
@RequiresBackend("kvm")
class LinuxDiskSnapshotTest {
    static final Duration BOOT = LinuxSnapshotTest.BOOT;
    static final Duration T = LinuxSnapshotTest.T;
    static final Path MKFS = Path.of("/usr/sbin/mkfs.ext4");
    static final int ECHO_BYTES = 1 << 20;

    @TempDir Path dir;

    private static GuestBuild guestBuild() {
        try {
            return LinuxGuests.defaultBuild();
        } catch (GuestNotBuiltException e) {
            Assumptions.abort(e.getMessage());
            throw e;
        }
    }

    private static String run(String... cmd) throws IOException, InterruptedException {
        return FileCloneTest.run(cmd);
    }

    private static String sha256(Path f) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(f)) {
            byte[] b = new byte[1 << 16];
            for (int n; (n = in.read(b)) > 0; ) {
                md.update(b, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static void ok(ShellSession shell, String command) {
        ExecResult r = shell.exec(command, T);
        assertThat(r.exitStatus()).as("'%s' failed: %s", command, r.stderrText()).isZero();
    }

    @Test
    void anExt4DiskIsInTheSnapshotAndTheRestoredVmWritesItsOwnCopy() throws Exception {
        guestBuild();
        Assumptions.assumeTrue(Files.isExecutable(MKFS), MKFS + " is missing (Debian package e2fsprogs)");
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(64L << 20); // sparse
        }
        run(MKFS.toString(), "-F", "-q", image.toString());
        Path storeDir = dir.resolve("store");
        try (SnapshotStore store = SnapshotStore.open(storeDir)) {
            try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(256).trackDirtyPages(true)
                    .guest(LinuxGuests.defaultGuest()).disk(Disk.of(image).withId("data"))
                    .consoleOutput(System.out).build()) {
                vm.start();
                vm.console().waitFor(LinuxGuests.READY_LINE, BOOT);
                ShellSession shell = ShellSession.open(vm.console(), T);
                ok(shell, "mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && echo written-before > /mnt/file && sync");

                vm.pause();
                VmSnapshots.Result r = VmSnapshots.snapshot(vm, store, "with-disk");
                assertThat(r.kind()).isEqualTo(LayerKind.FULL);
                assertThat(r.write().layer().disks()).singleElement()
                        .satisfies(d -> assertThat(d.id()).isEqualTo("data"))
                        .satisfies(d -> assertThat(Files.size(d.image())).isEqualTo(64L << 20));
                vm.resume();

                // The original VM goes on writing its own disk after the snapshot.
                ok(shell, "echo written-after > /mnt/after && sync");
                // Guest uptime around 32 MiB of sequential I/O (busybox dd prints no rate).
                String up = "cut -d' ' -f1 /proc/uptime";
                ExecResult io = shell.exec(up + "; dd if=/dev/zero of=/mnt/big bs=1M count=32 conv=fsync 2>/dev/null; "
                        + up + "; sync; echo 3 > /proc/sys/vm/drop_caches; " + up
                        + "; dd if=/mnt/big of=/dev/null bs=1M 2>/dev/null; " + up, T);
                String[] t = io.stdoutText().strip().split("\\s+");
                if (t.length == 4) {
                    double write = 32 / (Double.parseDouble(t[1]) - Double.parseDouble(t[0]));
                    double read = 32 / (Double.parseDouble(t[3]) - Double.parseDouble(t[2]));
                    System.out.printf("blk-throughput (nested, not a measurement): 32 MiB sequential write+fsync"
                            + " %.1f MiB/s, read %.1f MiB/s%n", write, read);
                }
                ok(shell, "umount /mnt");
            }
            String original = sha256(image);

            try (VirtualMachine vm = VmSnapshots.restore(store, "with-disk", b -> b.consoleOutput(System.out))) {
                vm.start();
                ShellSession shell = ShellSession.open(vm.console(), T);
                ExecResult file = shell.exec("cat /mnt/file", T);
                assertThat(file.exitStatus()).isZero();
                assertThat(file.stdoutText()).isEqualTo("written-before\n");
                assertThat(shell.exec("test -e /mnt/after", T).exitStatus())
                        .as("the restored disk is the snapshot's, not the original's later state").isEqualTo(1);
                assertThat(shell.exec("cat /sys/block/vda/serial", T).stdoutText()).isEqualTo("data");
                // Read back from the device, not the page cache restored with memory.
                ok(shell, "sync; echo 3 > /proc/sys/vm/drop_caches; grep -q written-before /mnt/file");
                ok(shell, "echo written-in-restored > /mnt/restored && sync");
                try (Stream<Path> work = Files.list(storeDir.resolve("work"))) {
                    assertThat(work.toList()).as("one working copy for the restored VM").hasSize(1);
                }
            }
            assertThat(sha256(image)).as("the original image is unchanged by the restored VM").isEqualTo(original);
            try (Stream<Path> work = Files.list(storeDir.resolve("work"))) {
                assertThat(work.toList()).as("the working copy is deleted with its VM").isEmpty();
            }
            assertThat(store.verify().problems()).as("the layer's disk is unchanged").isEmpty();
        }
    }

    /** The guest tool, compiled static from the test resources into target/ (once; reused inside the runner). */
    static Path vsockEcho() throws Exception {
        Path source = Path.of("src/test/resources/guest/vsock-echo.c").toAbsolutePath();
        Path binary = Path.of("target/guest-tools/vsock-echo").toAbsolutePath();
        if (Files.isExecutable(binary) && Files.getLastModifiedTime(binary).compareTo(Files.getLastModifiedTime(source)) >= 0) {
            return binary;
        }
        Assumptions.assumeTrue(Files.isRegularFile(source), "no " + source + " (run from the module directory)");
        Files.createDirectories(binary.getParent());
        try {
            run("gcc", "-static", "-O2", "-o", binary.toString(), source.toString());
        } catch (IOException e) {
            Assumptions.abort("cannot build the guest's vsock tool (needs gcc and a static libc, Debian"
                    + " build-essential): " + e.getMessage());
        }
        return binary;
    }

    private static void echoOneMebibyte(VirtualMachine vm, ShellSession shell, int port) throws Exception {
        byte[] data = new byte[ECHO_BYTES];
        new Random(port).nextBytes(data);
        Vsock vsock = vm.vsock().orElseThrow();
        try (Vsock.Listener l = vsock.listen(port)) {
            CompletableFuture<byte[]> echoed = CompletableFuture.supplyAsync(() -> {
                try (Vsock.Connection c = l.accept(Duration.ofMinutes(5))) {
                    Thread writer = Thread.ofPlatform().name("echo-writer").start(() -> {
                        try {
                            OutputStream out = c.output();
                            for (int off = 0; off < data.length; off += 32 * 1024) {
                                out.write(data, off, Math.min(32 * 1024, data.length - off));
                            }
                            out.flush();
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    });
                    byte[] back = c.input().readAllBytes();
                    writer.join();
                    return back;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            ExecResult r = shell.exec("/bin/vsock-echo " + port + " " + ECHO_BYTES, Duration.ofMinutes(5));
            assertThat(r.exitStatus()).as("vsock-echo: %s", r.stderrText()).isZero();
            assertThat(r.stdoutText()).isEqualTo("echoed " + ECHO_BYTES + "\n");
            byte[] back = echoed.get(5, TimeUnit.MINUTES);
            assertThat(back.length).isEqualTo(ECHO_BYTES);
            assertThat(back).as("the echo is exact").isEqualTo(data);
        }
    }

    @Test
    void vsockEchoesOneMebibyteBeforeASnapshotAndInTheRestoredVm() throws Exception {
        GuestBuild build = guestBuild();
        Path tool = vsockEcho();
        LinuxGuest guest = LinuxGuest.of(build.kernel()).withInitramfs(LinuxGuests.defaultInitramfs(build.busybox())
                .toBuilder().file("/bin/vsock-echo", tool, 0755).build());
        try (SnapshotStore store = SnapshotStore.open(dir.resolve("store"))) {
            try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(256).guest(guest).vsock(3)
                    .consoleOutput(System.out).build()) {
                vm.start();
                vm.console().waitFor(LinuxGuests.READY_LINE, BOOT);
                ShellSession shell = ShellSession.open(vm.console(), T);
                echoOneMebibyte(vm, shell, 5000);
                vm.pause();
                VmSnapshots.snapshot(vm, store, "vsock");
            }
            // Disks come with the snapshot; other devices must be asked for again.
            try (VirtualMachine vm = VmSnapshots.restore(store, "vsock", b -> b.vsock(3).consoleOutput(System.out))) {
                vm.start();
                ShellSession shell = ShellSession.open(vm.console(), T);
                echoOneMebibyte(vm, shell, 5001);
                assertThat(List.of(vm.vsock().orElseThrow().guestCid())).containsExactly(3L);
            }
        }
    }
}
