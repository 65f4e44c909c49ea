package dev.ignition.kvm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VirtualMachine;
import dev.ignition.device.Disk;
import dev.ignition.guest.GuestNotBuiltException;
import dev.ignition.guest.LinuxGuests;
import dev.ignition.guest.ShellSession;
import dev.ignition.testkit.RequiresBackend;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The default Linux guest with a virtio-blk disk, virtio-rng and virtio-vsock: the kernel finds
 * them through the {@code virtio_mmio.device=} parameters and binds its drivers, reads the disk's
 * bytes, writes through to the host file, and reads {@code /dev/hwrng}. (busybox has no vsock
 * client, so vsock traffic is covered by the host-side tests only.)
 */
@Tag("linux-guest")
@RequiresBackend("kvm")
class LinuxVirtioTest {
    static final Duration BOOT = LinuxGuestBootTest.BOOT;
    static final Duration T = LinuxGuestBootTest.T;
    static final int DISK_BYTES = 1 << 20;

    @TempDir Path dir;

    @Test
    void guestReadsAndWritesTheDiskAndReadsTheHardwareRng() throws Exception {
        try {
            LinuxGuests.defaultBuild();
        } catch (GuestNotBuiltException e) {
            Assumptions.abort(e.getMessage());
            return;
        }
        byte[] content = new byte[DISK_BYTES];
        new Random(7).nextBytes(content);
        Path image = Files.write(dir.resolve("disk.img"), content);
        byte[] marker = "written by the guest".getBytes(StandardCharsets.US_ASCII);

        try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(256).guest(LinuxGuests.defaultGuest())
                .disk(Disk.of(image).withId("ignition-test")).virtioRng().vsock(3).consoleOutput(System.out).build()) {
            vm.start();
            vm.console().waitFor(LinuxGuests.READY_LINE, BOOT);
            ShellSession shell = ShellSession.open(vm.console(), T);

            // Every device was probed and bound by its driver (features and queues accepted).
            assertThat(shell.exec("for d in /sys/bus/virtio/devices/*; do echo $(cat $d/device)"
                    + " $(basename $(readlink $d/driver)); done", T).stdoutText())
                    .isEqualTo("0x0002 virtio_blk\n0x0004 virtio_rng\n0x0013 vmw_vsock_virtio_transport\n");
            assertThat(shell.exec("cat /sys/block/vda/size", T).stdoutText()).isEqualTo(DISK_BYTES / 512 + "\n");
            assertThat(shell.exec("cat /sys/block/vda/serial", T).stdoutText()).as("sysfs prints it without a newline")
                    .isEqualTo("ignition-test");
            String md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(content));
            assertThat(shell.exec("md5sum /dev/vda", T).stdoutText()).startsWith(md5 + " ");
            assertThat(shell.exec("dd if=/dev/vda bs=512 skip=3 count=1 2>/dev/null", T).stdout())
                    .isEqualTo(Arrays.copyOfRange(content, 3 * 512, 4 * 512));

            assertThat(shell.exec("printf '" + new String(marker, StandardCharsets.US_ASCII) + "' > /tmp/m"
                    + " && dd if=/tmp/m of=/dev/vda bs=512 seek=100 conv=notrunc 2>/dev/null && sync", T).exitStatus())
                    .isZero();
            byte[] after = Files.readAllBytes(image);
            assertThat(Arrays.copyOfRange(after, 100 * 512, 100 * 512 + marker.length)).isEqualTo(marker);
            assertThat(Arrays.copyOfRange(after, 0, 100 * 512)).isEqualTo(Arrays.copyOfRange(content, 0, 100 * 512));

            assertThat(shell.exec("cat /sys/class/misc/hw_random/rng_current", T).stdoutText()).contains("virtio_rng");
            assertThat(shell.exec("head -c 4096 /dev/hwrng | wc -c", T).stdoutText().trim()).isEqualTo("4096");
            byte[] random = shell.exec("head -c 64 /dev/hwrng", T).stdout();
            assertThat(random).hasSize(64);
            assertThat(random).isNotEqualTo(new byte[64]);
        }
    }
}
