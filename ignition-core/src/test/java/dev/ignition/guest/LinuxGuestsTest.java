package dev.ignition.guest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.hosttools.HostTool;
import dev.ignition.initramfs.Initramfs;
import dev.ignition.initramfs.InitramfsEntry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LinuxGuestsTest {
    @Test
    void linuxGuestComposesItsCommandLineAndCopiesArrays() {
        LinuxGuest g = LinuxGuest.of(Path.of("/k")).appendCommandLine("quiet");
        assertThat(g.commandLine()).isEqualTo("console=ttyS0 reboot=k panic=1 pci=off quiet");
        assertThat(g.initramfs()).isNull();
        byte[] cpio = {1, 2, 3};
        LinuxGuest withRd = g.withInitramfs(cpio);
        cpio[0] = 9;
        assertThat(withRd.initramfs()).containsExactly(1, 2, 3);
        assertThat(withRd).isEqualTo(g.withInitramfs(new byte[] {1, 2, 3})).isNotEqualTo(g);
        assertThat(withRd.withCommandLine("x").commandLine()).isEqualTo("x");
        assertThatThrownBy(() -> g.appendCommandLine("a\0b")).isInstanceOf(IllegalArgumentException.class);
        Initramfs fs = Initramfs.builder().init("#!/bin/sh\n").build();
        assertThat(g.withInitramfs(fs).initramfs()).isEqualTo(fs.toByteArray());
    }

    @Test
    void defaultInitramfsHoldsBusyboxConsoleAndInit(@TempDir Path dir) throws Exception {
        Path busybox = Files.write(dir.resolve("busybox"), new byte[] {0x7f, 'E', 'L', 'F'});
        Initramfs fs = LinuxGuests.defaultInitramfs(busybox);
        assertThat(fs.entries()).contains(
                new InitramfsEntry.File("/bin/busybox", 0755, new byte[] {0x7f, 'E', 'L', 'F'}),
                new InitramfsEntry.Symlink("/bin/sh", "busybox"),
                new InitramfsEntry.Device("/dev/console", 0600, InitramfsEntry.DeviceKind.CHARACTER, 5, 1),
                new InitramfsEntry.File("/etc/udhcpc.script", 0755,
                        LinuxGuests.UDHCPC_SCRIPT.getBytes(StandardCharsets.UTF_8)),
                new InitramfsEntry.File("/init", 0755, LinuxGuests.DEFAULT_INIT.getBytes(StandardCharsets.UTF_8)));
        assertThat(LinuxGuests.DEFAULT_INIT).as("DHCP only with a network device, before the ready line")
                .contains("if [ -e /sys/class/net/eth0 ]; then\n  udhcpc -i eth0 -s /etc/udhcpc.script -q -n")
                .satisfies(init -> assertThat(init.indexOf("udhcpc")).isLessThan(init.indexOf(LinuxGuests.READY_LINE)));
        assertThat(LinuxGuests.DEFAULT_INIT).startsWith("#!/bin/busybox sh\n")
                .contains("devmem 0xc0000000 8 123").contains("mount -t proc proc /proc")
                .contains("mount -t sysfs sysfs /sys").contains("mount -t devtmpfs devtmpfs /dev")
                .contains("setsid cttyhack sh").contains("echo \"" + LinuxGuests.READY_LINE + "\"");
    }

    @Test
    void defaultInitIsValidShell() throws Exception {
        assertValidShell(LinuxGuests.DEFAULT_INIT);
    }

    @Test
    void udhcpcScriptIsValidShell() throws Exception {
        assertValidShell(LinuxGuests.UDHCPC_SCRIPT);
    }

    private static void assertValidShell(String script) throws Exception {
        Path busybox = HostTool.BUSYBOX.find().orElse(null);
        Assumptions.assumeTrue(busybox != null, HostTool.BUSYBOX.missingReason());
        Process p = new ProcessBuilder(busybox.toString(), "sh", "-n").redirectErrorStream(true).start();
        p.getOutputStream().write(script.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
    }

    @Test
    void locatingAMissingBuildGivesTheBuildCommand(@TempDir Path dir) {
        assertThatThrownBy(() -> LinuxGuests.locate(dir.resolve("x86_64-default")))
                .isInstanceOf(GuestNotBuiltException.class)
                .hasMessageContaining("no default Linux guest build at " + dir.resolve("x86_64-default"))
                .hasMessageContaining("build it with: ")
                .hasMessageContaining("guests/x86_64/build.sh --install-deps")
                .satisfies(e -> assertThat(((GuestNotBuiltException) e).buildCommand())
                        .endsWith("guests/x86_64/build.sh --install-deps"));
        // Tests run inside the checkout, so the command names the script by its absolute path.
        Path script = Path.of(LinuxGuests.buildCommand().split(" ")[0]);
        assertThat(script).isAbsolute();
        assertThat(Files.isRegularFile(script)).isTrue();
    }

    @Test
    void locatesACompleteBuildAndRejectsIncompleteOnes(@TempDir Path dir) throws Exception {
        for (String f : new String[] {"bzImage", "vmlinux", "busybox"}) {
            Files.writeString(dir.resolve(f), f);
        }
        Files.writeString(dir.resolve("guest.properties"),
                "arch=x86_64\nkernel=bzImage\nvmlinux=vmlinux\nbusybox=busybox\nkernelRelease=6.1.192\n");
        GuestBuild b = LinuxGuests.locate(dir);
        assertThat(b.kernel()).isEqualTo(dir.resolve("bzImage"));
        assertThat(b.vmlinux()).isEqualTo(dir.resolve("vmlinux"));
        assertThat(b.busybox()).isEqualTo(dir.resolve("busybox"));
        assertThat(b.kernelRelease()).isEqualTo("6.1.192");

        Files.writeString(dir.resolve("guest.properties"),
                "kernel=../../etc/passwd\nvmlinux=vmlinux\nbusybox=busybox\nkernelRelease=6.1\n");
        assertThatThrownBy(() -> LinuxGuests.locate(dir)).isInstanceOf(GuestNotBuiltException.class)
                .hasMessageContaining("lacks its kernel");
        Files.writeString(dir.resolve("guest.properties"), "kernel=bzImage\nvmlinux=vmlinux\nbusybox=busybox\n");
        assertThatThrownBy(() -> LinuxGuests.locate(dir)).hasMessageContaining("names no kernelRelease");
        Files.delete(dir.resolve("busybox"));
        Files.writeString(dir.resolve("guest.properties"),
                "kernel=bzImage\nvmlinux=vmlinux\nbusybox=busybox\nkernelRelease=6.1\n");
        assertThatThrownBy(() -> LinuxGuests.locate(dir)).hasMessageContaining("lacks its busybox");
    }

    @Test
    void theRealDefaultBuildIsABootableBzImageWhenPresent() {
        GuestBuild build;
        try {
            build = LinuxGuests.defaultBuild();
        } catch (GuestNotBuiltException e) {
            Assumptions.abort("default guest not built here: " + e.getMessage());
            return;
        }
        LinuxGuest guest = LinuxGuests.defaultGuest();
        assertThat(guest.kernel()).isEqualTo(build.kernel());
        assertThat(guest.initramfs()).isNotNull();
        assertThat(build.kernelRelease()).startsWith("6.1.");
    }
}
