package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.ignition.Network;
import dev.ignition.NetworkAttachment;
import dev.ignition.NetworkUnavailableException;
import dev.ignition.VirtualMachine;
import dev.ignition.guest.ExecResult;
import dev.ignition.guest.GuestNotBuiltException;
import dev.ignition.guest.LinuxGuests;
import dev.ignition.guest.ShellSession;
import dev.ignition.testkit.RequiresBackend;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The default Linux guest on user-mode networking (passt): it fetches a page from an HTTP server
 * the test runs on the host's loopback (through its default gateway, which passt maps to the
 * host), the test reaches a busybox httpd in the guest through a forwarded port, and 16 MiB go
 * each way byte-exact (each prints its rate: under the nested runner's emulation not a
 * measurement); after a snapshot and a restore, and in each of two forks, both directions work
 * again, each fork on its own passt and host port.
 *
 * <p>The restored VM is reached first from the host, before the guest sends anything itself: a
 * new passt learns the guest's MAC address only from a frame of the guest's, and the link reset
 * on restore is what makes the guest send one.
 */
@Tag("linux-guest")
@RequiresBackend("kvm")
class LinuxNetworkTest {
    static final Duration BOOT = LinuxSnapshotTest.BOOT;
    static final Duration T = Duration.ofMinutes(3);
    static final int BLOB = 16 << 20;
    static final Network NET = Network.userMode().forwardTcp(0, 80);
    static final String GUEST_PAGE = "served by httpd in the guest";

    @TempDir
    Path dir;

    HttpServer server;
    byte[] hostBlob;
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build();

    @BeforeEach
    void startHostServer() throws IOException {
        hostBlob = new byte[BLOB];
        new Random(14).nextBytes(hostBlob);
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        server.createContext("/hello", x -> {
            byte[] body = ("hello from the host to " + x.getRequestURI().getQuery() + "\n")
                    .getBytes(StandardCharsets.US_ASCII);
            x.sendResponseHeaders(200, body.length);
            try (OutputStream o = x.getResponseBody()) {
                o.write(body);
            }
        });
        server.createContext("/blob", x -> {
            x.sendResponseHeaders(200, hostBlob.length);
            try (OutputStream o = x.getResponseBody()) {
                o.write(hostBlob);
            }
        });
        server.start();
    }

    @AfterEach
    void stopHostServer() {
        server.stop(0);
    }

    @Test
    void pagesAndSixteenMiBGoEachWayByteExact() throws Exception {
        assumeGuestBuilt();
        int hostPort = server.getAddress().getPort();
        try (VirtualMachine vm = boot()) {
            vm.start();
            vm.console().waitFor(LinuxGuests.READY_LINE, BOOT);
            ShellSession shell = ShellSession.open(vm.console(), T);
            String gateway = gateway(shell);
            assertThat(fetchInGuest(shell, gateway, hostPort, "booted")).isEqualTo("hello from the host to booted\n");
            startHttpd(shell);
            int forwarded = vm.network().orElseThrow().hostPort(80);
            assertThat(get(forwarded, "/index.html")).isEqualTo(GUEST_PAGE + "\n");

            // Guest -> host: the test downloads a random file of the guest's through the forward.
            String guestSha = firstWord(shell.exec("head -c " + BLOB + " /dev/urandom > /tmp/www/blob"
                    + " && sha256sum /tmp/www/blob", T));
            long t0 = System.nanoTime();
            Download down = download(forwarded, "/blob");
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertThat(down.length).isEqualTo(BLOB);
            assertThat(down.sha256).isEqualTo(guestSha);
            System.out.printf("LinuxNetworkTest: guest->host TCP (guest httpd -> test, forwarded port) %d MiB in %.2f s"
                    + " = %.2f MiB/s%n", BLOB >> 20, seconds, (BLOB >> 20) / seconds);

            // Host -> guest: the guest downloads the host's file through its gateway.
            long t1 = System.nanoTime();
            ExecResult fetched = shell.exec("wget -q -O /tmp/down http://" + gateway + ":" + hostPort + "/blob"
                    + " && wc -c < /tmp/down && sha256sum /tmp/down && rm /tmp/down", T);
            double seconds2 = (System.nanoTime() - t1) / 1e9;
            assertThat(fetched.exitStatus()).as(fetched.stderrText()).isZero();
            String[] lines = fetched.stdoutText().split("\n");
            assertThat(lines[0].trim()).isEqualTo(String.valueOf(BLOB));
            assertThat(lines[1].split(" ")[0]).isEqualTo(sha256(hostBlob));
            System.out.printf("LinuxNetworkTest: host->guest TCP (test server -> guest wget, gateway) %d MiB in %.2f s"
                    + " = %.2f MiB/s%n", BLOB >> 20, seconds2, (BLOB >> 20) / seconds2);
        }
    }

    @Test
    void afterARestoreAndInEachForkBothWaysWorkAgainOnPortsOfTheirOwn() throws Exception {
        assumeGuestBuilt();
        int hostPort = server.getAddress().getPort();
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            int carrierChangesBefore;
            String pageSha;
            try (VirtualMachine vm = boot()) {
                vm.start();
                vm.console().waitFor(LinuxGuests.READY_LINE, BOOT);
                ShellSession shell = ShellSession.open(vm.console(), T);
                startHttpd(shell);
                pageSha = firstWord(shell.exec("head -c 262144 /dev/urandom > /tmp/www/page && sha256sum /tmp/www/page", T));
                assertThat(get(vm.network().orElseThrow().hostPort(80), "/index.html")).isEqualTo(GUEST_PAGE + "\n");
                carrierChangesBefore = carrierChanges(shell);
                vm.pause();
                VmSnapshots.snapshot(vm, store, "networked");
            }

            try (VirtualMachine vm = VmSnapshots.restore(store, "networked", b -> b.virtioRng().network(NET)
                    .consoleOutput(System.out))) {
                vm.start();
                int forwarded = vm.network().orElseThrow().hostPort(80);
                // Reached before the guest is asked to do anything: the link reset made it send.
                assertThat(getWithRetry(forwarded, "/index.html")).isEqualTo(GUEST_PAGE + "\n");
                assertThat(download(forwarded, "/page").sha256).as("256 KiB through the new passt, byte-exact")
                        .isEqualTo(pageSha);
                ShellSession shell = ShellSession.open(vm.console(), T);
                assertThat(carrierChanges(shell)).as("the link went down and up on restore")
                        .isEqualTo(carrierChangesBefore + 2);
                assertThat(fetchInGuest(shell, gateway(shell), hostPort, "restored"))
                        .isEqualTo("hello from the host to restored\n");
            }

            List<VirtualMachine> forks = VmSnapshots.fork(store, "networked", 2, b -> b.virtioRng().network(NET));
            try {
                List<Integer> ports = new ArrayList<>();
                for (int i = 0; i < forks.size(); i++) {
                    VirtualMachine fork = forks.get(i);
                    fork.start();
                    NetworkAttachment net = fork.network().orElseThrow();
                    ports.add(net.hostPort(80));
                    assertThat(getWithRetry(net.hostPort(80), "/index.html")).isEqualTo(GUEST_PAGE + "\n");
                    ShellSession shell = ShellSession.open(fork.console(), T);
                    // Each fork writes its own page; the host must see each one through that fork's port.
                    assertThat(shell.exec("echo fork-" + i + " > /tmp/www/who", T).exitStatus()).isZero();
                    assertThat(fetchInGuest(shell, gateway(shell), hostPort, "fork-" + i))
                            .isEqualTo("hello from the host to fork-" + i + "\n");
                }
                assertThat(ports).as("a host port of its own for each fork").doesNotHaveDuplicates();
                for (int i = 0; i < forks.size(); i++) {
                    assertThat(get(ports.get(i), "/who")).isEqualTo("fork-" + i + "\n");
                }
            } finally {
                forks.forEach(VirtualMachine::close);
            }
        }
    }

    private static void assumeGuestBuilt() {
        try {
            LinuxGuests.defaultBuild();
        } catch (GuestNotBuiltException e) {
            Assumptions.abort(e.getMessage());
        }
    }

    private static void startHttpd(ShellSession shell) {
        assertThat(shell.exec("mkdir -p /tmp/www && echo '" + GUEST_PAGE + "' > /tmp/www/index.html"
                + " && httpd -p 80 -h /tmp/www", T).exitStatus()).isZero();
    }

    private VirtualMachine boot() {
        try {
            return VirtualMachine.builder().memoryMiB(256).guest(LinuxGuests.defaultGuest()).virtioRng().network(NET)
                    .consoleOutput(System.out).build();
        } catch (NetworkUnavailableException e) {
            Assumptions.abort("user-mode networking is not available here: " + e.getMessage());
            throw e;
        }
    }

    /** The guest's default gateway, which passt maps to the host's loopback. */
    static String gateway(ShellSession shell) {
        ExecResult r = shell.exec("ip route | awk '/^default/ {print $3; exit}'", T);
        String gw = r.stdoutText().trim();
        assertThat(gw).as("the guest has a default route from DHCP").matches("[0-9.]+");
        return gw;
    }

    static String fetchInGuest(ShellSession shell, String gateway, int port, String who) {
        ExecResult r = shell.exec("wget -q -O - 'http://" + gateway + ":" + port + "/hello?" + who + "'", T);
        assertThat(r.exitStatus()).as("wget in the guest: " + r.stderrText()).isZero();
        return r.stdoutText();
    }

    static int carrierChanges(ShellSession shell) {
        return Integer.parseInt(shell.exec("cat /sys/class/net/eth0/carrier_changes", T).stdoutText().trim());
    }

    static String sha256Of(ShellSession shell, String file) {
        return firstWord(shell.exec("sha256sum " + file, T));
    }

    static String firstWord(ExecResult r) {
        assertThat(r.exitStatus()).as(r.stderrText()).isZero();
        return r.stdoutText().trim().split("\\s+")[0];
    }

    String get(int port, String path) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(request(port, path), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        return r.body();
    }

    /** GET through a forward into a VM that was just restored: passt accepts at once, the guest answers once it is up. */
    String getWithRetry(int port, String path) throws InterruptedException {
        long deadline = System.nanoTime() + T.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try {
                HttpResponse<String> r = http.send(requestBuilder(port, path).timeout(Duration.ofSeconds(20)).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return r.body();
                }
                last = new IOException("HTTP " + r.statusCode());
            } catch (IOException e) {
                last = e;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("port " + port + " did not answer within " + T, last);
    }

    static HttpRequest request(int port, String path) {
        return requestBuilder(port, path).build();
    }

    static HttpRequest.Builder requestBuilder(int port, String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(T);
    }

    record Download(long length, String sha256) {}

    Download download(int port, String path) throws IOException, InterruptedException {
        HttpResponse<InputStream> r = http.send(request(port, path), HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        MessageDigest md = sha();
        long n = 0;
        try (InputStream in = r.body()) {
            byte[] buf = new byte[64 << 10];
            for (int k; (k = in.read(buf)) > 0; n += k) {
                md.update(buf, 0, k);
            }
        }
        return new Download(n, HexFormat.of().formatHex(md.digest()));
    }

    static String sha256(byte[] b) {
        return HexFormat.of().formatHex(sha().digest(b));
    }

    static MessageDigest sha() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
