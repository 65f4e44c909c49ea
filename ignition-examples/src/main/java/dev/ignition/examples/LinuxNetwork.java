package dev.ignition.examples;

import com.sun.net.httpserver.HttpServer;
import dev.ignition.Network;
import dev.ignition.NetworkUnavailableException;
import dev.ignition.VirtualMachine;
import dev.ignition.guest.ExecResult;
import dev.ignition.guest.LinuxGuests;
import dev.ignition.guest.ShellSession;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;

/**
 * The default Linux guest on user-mode networking (passt): the host reaches a busybox
 * {@code httpd} in the guest through a forwarded port, and the guest fetches a page from an HTTP
 * server on the host's loopback through its default gateway (passt maps that address to the
 * host). Needs what {@link LinuxExec} needs, and {@code passt} ({@code apt-get install passt});
 * where it cannot run it says why and exits with 0. Run with {@code ./ignition example LinuxNetwork}.
 *
 * <pre>{@code
 * try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(256).guest(LinuxGuests.defaultGuest())
 *         .network(Network.userMode().forwardTcp(0, 8080)).build()) {   // 0: pick a free host port
 *     vm.start();
 *     vm.console().waitFor(LinuxGuests.READY_LINE, Duration.ofMinutes(2));  // DHCP is done by then
 *     ShellSession shell = ShellSession.open(vm.console(), Duration.ofMinutes(1));
 *     shell.exec("mkdir -p /tmp/www && echo hi > /tmp/www/index.html && httpd -p 8080 -h /tmp/www");
 *     int port = vm.network().orElseThrow().hostPort(8080);   // http://127.0.0.1:port/ is the guest's httpd
 * }
 * }</pre>
 */
public final class LinuxNetwork {
    static final Duration BOOT = LinuxExec.BOOT;
    static final Duration T = LinuxExec.T;
    static final int GUEST_PORT = 8080;
    static final String GUEST_PAGE = "hello from httpd in the guest";
    static final String HOST_PAGE = "hello from the host";

    private LinuxNetwork() {}

    public static void main(String[] args) {
        System.exit(run(System.out, args.length > 0 && args[0].equals("--force")));
    }

    static int run(PrintStream out, boolean force) {
        Optional<String> why = LinuxExec.whyNot(force);
        if (why.isPresent()) {
            out.println("This example networks a Linux guest with the host, but not here: " + why.get());
            return 0;
        }
        HttpServer host = hostServer();
        try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(256).guest(LinuxGuests.defaultGuest())
                .network(Network.userMode().forwardTcp(0, GUEST_PORT)).build()) {
            vm.start();
            vm.console().waitFor(LinuxGuests.READY_LINE, BOOT);
            ShellSession shell = ShellSession.open(vm.console(), T);
            out.println("guest address: " + shell.exec("ip -4 -o addr show eth0 | awk '{print $4}'", T).stdoutText().trim());

            check(shell.exec("mkdir -p /tmp/www && echo '" + GUEST_PAGE + "' > /tmp/www/index.html"
                    + " && httpd -p " + GUEST_PORT + " -h /tmp/www", T));
            int port = vm.network().orElseThrow().hostPort(GUEST_PORT);
            out.printf("host -> guest: http://127.0.0.1:%d/ (forwarded to the guest's port %d) says: %s%n", port,
                    GUEST_PORT, get(URI.create("http://127.0.0.1:" + port + "/")).strip());

            String gateway = shell.exec("ip route | awk '/^default/ {print $3; exit}'", T).stdoutText().trim();
            String url = "http://" + gateway + ":" + host.getAddress().getPort() + "/";
            ExecResult fetched = check(shell.exec("wget -q -O - " + url, T));
            out.printf("guest -> host: %s (the host's 127.0.0.1) says: %s%n", url, fetched.stdoutText().strip());
            return 0;
        } catch (NetworkUnavailableException e) {
            out.println("This example networks a Linux guest with the host, but not here: " + e.getMessage());
            return 0;
        } finally {
            host.stop(0);
        }
    }

    /** An HTTP server on the host's loopback only: the guest reaches it through passt. */
    private static HttpServer hostServer() {
        try {
            HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 4);
            s.createContext("/", x -> {
                byte[] body = (HOST_PAGE + "\n").getBytes(StandardCharsets.US_ASCII);
                x.sendResponseHeaders(200, body.length);
                try (OutputStream o = x.getResponseBody()) {
                    o.write(body);
                }
            });
            s.start();
            return s;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String get(URI uri) {
        try {
            HttpURLConnection c = (HttpURLConnection) uri.toURL().openConnection();
            c.setConnectTimeout((int) T.toMillis());
            c.setReadTimeout((int) T.toMillis());
            try (InputStream in = c.getInputStream()) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } finally {
                c.disconnect();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("GET " + uri + ": " + e.getMessage(), e);
        }
    }

    private static ExecResult check(ExecResult r) {
        if (r.exitStatus() != 0) {
            throw new IllegalStateException("a command in the guest failed with status " + r.exitStatus() + ": "
                    + r.stderrText());
        }
        return r;
    }
}
