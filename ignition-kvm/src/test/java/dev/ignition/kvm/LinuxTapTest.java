package dev.ignition.kvm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.Network;
import dev.ignition.VirtualMachine;
import dev.ignition.guest.ExecResult;
import dev.ignition.guest.GuestNotBuiltException;
import dev.ignition.guest.LinuxGuests;
import dev.ignition.guest.ShellSession;
import dev.ignition.testkit.RequiresBackend;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The default Linux guest on a TAP interface ({@code Network.tap}): the test gives the TAP the
 * host side of a private /24, the guest takes an address in it, and each side fetches a page from
 * an HTTP server of the other's (the guest's busybox {@code httpd}; a minimal server of the
 * test's, bound to the TAP's address). Needs root (CAP_NET_ADMIN), {@code /dev/net/tun} and
 * iproute2; in the nested-KVM runner the tier loads {@code tun} first.
 */
@Tag("linux-guest")
@RequiresBackend("kvm")
class LinuxTapTest {
    static final Duration BOOT = LinuxGuestBootTest.BOOT;
    static final Duration T = LinuxGuestBootTest.T;
    static final String HOST = "10.231.7.1";
    static final String GUEST = "10.231.7.2";

    @Test
    void guestAndHostReachEachOtherOverATap() throws Exception {
        Assumptions.assumeTrue(Files.exists(Path.of("/dev/net/tun")) && Files.isExecutable(Path.of("/usr/sbin/ip"))
                        && Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid")),
                "needs root (CAP_NET_ADMIN), /dev/net/tun and iproute2 to create and configure a TAP");
        try {
            LinuxGuests.defaultBuild();
        } catch (GuestNotBuiltException e) {
            Assumptions.abort(e.getMessage());
            return;
        }
        String tap = "igl" + ProcessHandle.current().pid();
        try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(256).guest(LinuxGuests.defaultGuest())
                .network(Network.tap(tap)).consoleOutput(System.out).build()) {
            // The TAP exists from build() on and disappears with the VM; its host side is ours to configure.
            run("ip", "addr", "add", HOST + "/24", "dev", tap);
            run("ip", "link", "set", tap, "up");
            try (ServerSocket server = new ServerSocket(0, 4, InetAddress.getByName(HOST))) {
                Thread.ofPlatform().daemon().start(() -> serve(server, "hello over the tap\n"));
                vm.start();
                vm.console().waitFor(LinuxGuests.READY_LINE, BOOT); // udhcpc finds no DHCP server on a bare TAP
                ShellSession shell = ShellSession.open(vm.console(), T);
                assertThat(shell.exec("ip addr flush dev eth0 && ip addr add " + GUEST + "/24 dev eth0"
                        + " && ip link set eth0 up && mkdir -p /tmp/www && echo guest over the tap > /tmp/www/index.html"
                        + " && httpd -p 80 -h /tmp/www", T).exitStatus()).isZero();

                ExecResult fetched = shell.exec("wget -q -O - http://" + HOST + ":" + server.getLocalPort() + "/", T);
                assertThat(fetched.exitStatus()).as(fetched.stderrText()).isZero();
                assertThat(fetched.stdoutText()).isEqualTo("hello over the tap\n");

                assertThat(get(URI.create("http://" + GUEST + "/index.html"))).isEqualTo("guest over the tap\n");
            }
        }
        assertThat(Files.exists(Path.of("/sys/class/net", tap))).as("the TAP went with the VM").isFalse();
    }

    /** Answers each connection with a fixed HTTP/1.0 response until the socket closes. */
    private static void serve(ServerSocket server, String body) {
        byte[] b = body.getBytes(StandardCharsets.US_ASCII);
        while (!server.isClosed()) {
            try (Socket s = server.accept()) {
                InputStream in = s.getInputStream();
                ByteArrayOutputStream request = new ByteArrayOutputStream();
                while (!request.toString(StandardCharsets.US_ASCII).contains("\r\n\r\n")) {
                    int c = in.read();
                    if (c < 0) {
                        break;
                    }
                    request.write(c);
                }
                OutputStream out = s.getOutputStream();
                out.write(("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + b.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.write(b);
                out.flush();
            } catch (IOException e) {
                // the socket closed at the end of the test, or a client went away
            }
        }
    }

    private static String get(URI uri) throws IOException {
        HttpURLConnection c = (HttpURLConnection) uri.toURL().openConnection();
        c.setConnectTimeout((int) T.toMillis());
        c.setReadTimeout((int) T.toMillis());
        try (InputStream in = c.getInputStream()) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            c.disconnect();
        }
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + out);
        }
    }
}
