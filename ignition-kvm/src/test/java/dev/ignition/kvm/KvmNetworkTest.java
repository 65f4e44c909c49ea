package dev.ignition.kvm;

import static org.assertj.core.api.Assertions.assertThat;
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
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A VM with user-mode networking on the real KVM (a freestanding guest: no driver runs, but the
 * device, passt and the forwards are set up and torn down with the VM).
 */
@Tag("kvm")
@RequiresBackend("kvm")
class KvmNetworkTest {
    static boolean passtInstalled() {
        return Stream.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator))
                .anyMatch(d -> !d.isEmpty() && Files.isExecutable(Path.of(d, "passt")));
    }

    @Test
    void eachVmGetsItsOwnPasstAndForwardedPortsWhichCloseWithIt() throws IOException {
        assumeTrue(passtInstalled(), "passt is not installed (apt-get install passt)");
        Network network = Network.userMode().forwardTcp(0, 80).forwardTcp(0, 22);
        NetworkAttachment a;
        NetworkAttachment b;
        try (VirtualMachine one = VirtualMachine.builder().memoryMiB(16).guest(TestGuests.hello()).network(network)
                .build();
                VirtualMachine two = VirtualMachine.builder().memoryMiB(16).guest(TestGuests.hello()).network(network)
                        .build()) {
            a = one.network().orElseThrow();
            b = two.network().orElseThrow();
            assertThat(a.macAddress()).isEqualTo("52:54:00:12:34:56");
            assertThat(a.backend()).startsWith("passt (");
            assertThat(List.of(a.hostPort(80), a.hostPort(22), b.hostPort(80), b.hostPort(22)))
                    .as("four distinct host ports").doesNotHaveDuplicates().allMatch(p -> p > 0);
            for (int port : List.of(a.hostPort(80), b.hostPort(22))) {
                try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                    assertThat(s.isConnected()).isTrue();
                }
            }
        }
        for (int port : List.of(a.hostPort(80), a.hostPort(22), b.hostPort(80), b.hostPort(22))) {
            assertThat(refused(port)).as("port " + port + " closed with its VM").isTrue();
        }
        try (VirtualMachine none = VirtualMachine.builder().memoryMiB(16).guest(TestGuests.hello()).build()) {
            assertThat(none.network()).isEmpty();
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
