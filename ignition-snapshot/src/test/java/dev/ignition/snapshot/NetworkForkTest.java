package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ignition.Network;
import dev.ignition.NetworkAttachment;
import dev.ignition.VirtualMachine;
import dev.ignition.guest.TestGuests;
import dev.ignition.testkit.RequiresBackend;
import java.io.File;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Snapshots of a VM with a network device: every restored or forked VM gets its own passt and
 * its own forwarded host ports, released when it closes. (A freestanding guest: no guest driver
 * runs; the Linux-guest traffic tests need a runner where passt has a network interface.)
 */
@Tag("kvm")
@RequiresBackend("kvm")
class NetworkForkTest {
    static final Duration T = Duration.ofSeconds(60);
    static final Network NET = Network.userMode().forwardTcp(0, 80);

    @TempDir
    Path dir;

    static boolean passtInstalled() {
        return Stream.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator))
                .anyMatch(d -> !d.isEmpty() && Files.isExecutable(Path.of(d, "passt")));
    }

    @Test
    void eachForkHasItsOwnPasstAndHostPort() throws IOException {
        assumeTrue(passtInstalled(), "passt is not installed (apt-get install passt)");
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            int originalPort;
            try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(16).guest(TestGuests.echo()).network(NET)
                    .build()) {
                vm.start();
                vm.console().waitFor(TestGuests.ECHO_READY, T);
                vm.pause();
                VmSnapshots.snapshot(vm, store, "net");
                originalPort = vm.network().orElseThrow().hostPort(80);
            }
            List<VirtualMachine> forks = VmSnapshots.fork(store, "net", 3, b -> b.network(NET));
            List<NetworkAttachment> nets = new ArrayList<>();
            try {
                for (VirtualMachine f : forks) {
                    f.start();
                    f.console().write("x");
                    f.console().waitFor("x", T); // the fork runs
                    nets.add(f.network().orElseThrow());
                }
                assertThat(nets.stream().map(n -> n.hostPort(80)).toList()).doesNotHaveDuplicates();
                assertThat(nets.stream().map(NetworkAttachment::backend).toList()).as("one passt each")
                        .doesNotHaveDuplicates();
                for (NetworkAttachment n : nets) {
                    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), n.hostPort(80))) {
                        assertThat(s.isConnected()).isTrue();
                    }
                }
            } finally {
                forks.forEach(VirtualMachine::close);
            }
            for (NetworkAttachment n : nets) {
                assertThat(refused(n.hostPort(80))).as("closed with its fork").isTrue();
            }
            assertThat(refused(originalPort)).isTrue();
            assertThatThrownBy(() -> VmSnapshots.restore(store, "net", b -> b).close())
                    .as("restoring without the network device it was taken with")
                    .hasMessageContaining("virtio-net");
        }
    }

    private static boolean refused(int port) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            return false;
        } catch (ConnectException e) {
            return true;
        }
    }
}
