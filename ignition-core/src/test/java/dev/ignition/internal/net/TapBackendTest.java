package dev.ignition.internal.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The TAP backend on a real TAP interface, moved into a network namespace of the test's own, so
 * the only traffic is between the test and that namespace's kernel (needs root and iproute2).
 */
@Timeout(60)
class TapBackendTest {
    static boolean root() throws IOException {
        return Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
    }

    static String run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + out);
        }
        return out;
    }

    @Test
    void exchangesFramesWithTheKernelThroughATapInANamespaceOfItsOwn() throws Exception {
        assumeTrue(Files.exists(Path.of("/proc/self")) && root() && Files.isExecutable(Path.of("/usr/sbin/ip"))
                        && Files.exists(Path.of("/dev/net/tun")),
                "needs Linux, root (CAP_NET_ADMIN), /dev/net/tun and iproute2 to create a TAP in a namespace");
        long pid = ProcessHandle.current().pid();
        String name = "igt" + pid;
        String ns = "ignition-tap-" + pid;
        run("ip", "netns", "add", ns);
        TapBackend tap = null;
        try {
            tap = TapBackend.open(name);
            run("ip", "link", "set", name, "netns", ns);
            run("ip", "-n", ns, "addr", "add", "10.231.0.1/24", "dev", name);
            run("ip", "-n", ns, "link", "set", name, "up");
            BlockingQueue<byte[]> received = new LinkedBlockingQueue<>();
            tap.start(received::add);
            byte[] target = {10, (byte) 231, 0, 1};
            tap.send(PasstBackendTest.arpRequest(new byte[] {10, (byte) 231, 0, 2}, target));
            byte[] reply = null;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (reply == null && System.nanoTime() < deadline) {
                byte[] f = received.poll(1, TimeUnit.SECONDS);
                // The namespace's kernel may also send IPv6 neighbour discovery; only the ARP reply counts.
                if (f != null && f.length >= 42 && ByteBuffer.wrap(f).getShort(12) == 0x0806
                        && ByteBuffer.wrap(f).getShort(20) == 2) {
                    reply = f;
                }
            }
            assertThat(reply).as("ARP reply from the namespace's kernel").isNotNull();
            assertThat(Arrays.copyOfRange(reply, 0, 6)).isEqualTo(PasstBackendTest.MAC);
            assertThat(Arrays.copyOfRange(reply, 28, 32)).isEqualTo(target);
            tap.close();
            tap.close(); // idempotent
            assertThat(run("ip", "-n", ns, "-o", "link", "show")).as("the TAP went with its file descriptor")
                    .doesNotContain(name);
        } finally {
            if (tap != null) {
                tap.close();
            }
            run("ip", "netns", "del", ns);
        }
    }

    @Test
    void explainsMissingPrivilegesAndOtherFailures() {
        assertThat(TapBackend.explain("tap0", "ioctl(TUNSETIFF, IFF_TAP | IFF_NO_PI)", TapBackend.EPERM))
                .contains("cannot attach TAP interface 'tap0'")
                .contains("errno 1")
                .contains("needs CAP_NET_ADMIN")
                .contains("ip tuntap add dev tap0 mode tap user $USER")
                .contains("Network.userMode()");
        assertThat(TapBackend.explain("tap0", "open(/dev/net/tun)", TapBackend.ENOENT)).contains("modprobe tun");
        assertThat(TapBackend.explain("tap0", "ioctl", TapBackend.EBUSY)).contains("in use by another process");
        assertThat(TapBackend.explain("eth0", "ioctl", TapBackend.EINVAL)).contains("is not a TAP");
    }

    @Test
    void rejectsNamesLinuxCannotHave() {
        for (String bad : List.of("", "sixteen-bytes-xx")) {
            assertThatThrownBy(() -> TapBackend.open(bad)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("1-15 bytes");
        }
    }
}
