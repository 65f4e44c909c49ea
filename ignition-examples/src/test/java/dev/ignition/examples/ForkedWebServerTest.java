package dev.ignition.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.Network;
import dev.ignition.NetworkAttachment;
import dev.ignition.VirtualMachine;
import dev.ignition.guest.LinuxGuests;
import dev.ignition.guest.ShellSession;
import dev.ignition.junit.IgnitionTest;
import dev.ignition.junit.VmTemplate;
import java.io.UncheckedIOException;
import java.net.URI;
import java.time.Duration;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@link IgnitionTest} with a Linux guest serving HTTP: the template boots the default guest with
 * user-mode networking and a forward of guest port 80 (host port 0: picked per VM), starts busybox
 * {@code httpd} and is snapshotted; every test gets a fork with its own passt and its own host
 * port, read from the {@link NetworkAttachment} parameter, like a Testcontainers mapped port.
 */
@Tag("linux-guest")
@IgnitionTest
@TestMethodOrder(MethodOrderer.MethodName.class)
class ForkedWebServerTest {
    static final int HTTP = 80;
    static final Duration T = Duration.ofMinutes(2);

    static final VmTemplate WEB = VmTemplate.boot(LinuxGuests.defaultGuest())
            .configure(b -> b.memoryMiB(256).network(Network.userMode().forwardTcp(0, HTTP)))
            .backend("kvm")
            .waitingFor(LinuxGuests.READY_LINE)
            .startupTimeout(Duration.ofMinutes(5)) // the nested-KVM runner emulates everything
            .beforeSnapshot(vm -> ShellSession.open(vm.console(), T)
                    .exec("mkdir -p /tmp/www && echo template > /tmp/www/index.html && httpd -p 80 -h /tmp/www", T));

    @Test
    void a_aTestChangesThePageItsForkServes(VirtualMachine vm, NetworkAttachment net) {
        ShellSession.open(vm.console(), T).exec("echo changed by one test > /tmp/www/index.html", T);
        assertThat(get(net.hostPort(HTTP))).isEqualTo("changed by one test\n");
    }

    @Test
    void b_theNextTestsForkServesTheTemplatesPageOnAPortOfItsOwn(NetworkAttachment net) {
        assertThat(get(net.hostPort(HTTP))).isEqualTo("template\n");
    }

    /**
     * GET {@code http://127.0.0.1:port/}, tried again until {@link #T}: a fork's passt is new and
     * learns the guest's MAC address from the first frame the guest sends after the link reset a
     * restore makes; a connection before that is not answered.
     */
    static String get(int port) {
        long deadline = System.nanoTime() + T.toNanos();
        while (true) {
            try {
                return LinuxNetwork.get(URI.create("http://127.0.0.1:" + port + "/"));
            } catch (UncheckedIOException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
