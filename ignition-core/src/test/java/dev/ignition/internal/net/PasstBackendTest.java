package dev.ignition.internal.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ignition.Network;
import dev.ignition.NetworkUnavailableException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The passt backend against the real passt (no VM needed): the frame stream, port forwards,
 * and that nothing outlives {@link PasstBackend#close()}. Only addresses on this machine are
 * used: passt answers ARP itself and forwards listen on 127.0.0.1.
 */
@Timeout(60)
class PasstBackendTest {
    static final byte[] MAC = HexFormat.of().parseHex("525400123456");

    static void assumePasst() {
        boolean installed;
        try {
            PasstBackend.findBinary();
            installed = true;
        } catch (NetworkUnavailableException e) {
            installed = false;
        }
        assumeTrue(installed, "passt is not installed (apt-get install passt); the passt backend cannot be tested");
    }

    /** An ARP request from the guest's MAC for {@code target}. */
    static byte[] arpRequest(byte[] sender, byte[] target) {
        return ByteBuffer.allocate(42).put(new byte[] {-1, -1, -1, -1, -1, -1}).put(MAC).putShort((short) 0x0806)
                .putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 1)
                .put(MAC).put(sender).put(new byte[6]).put(target).array();
    }

    @Test
    void answersAnArpRequestOverTheLengthPrefixedStreamAndLeavesNothingBehind() throws Exception {
        assumePasst();
        BlockingQueue<byte[]> received = new LinkedBlockingQueue<>();
        PasstBackend passt = PasstBackend.start(List.of());
        Path socket = passt.socket();
        Process process = passt.process();
        try {
            assertThat(socket).exists();
            passt.start(f -> received.add(f));
            byte[] target = {10, 9, 8, 7};
            passt.send(arpRequest(new byte[] {10, 9, 8, 2}, target));
            byte[] reply = received.poll(10, TimeUnit.SECONDS);
            assertThat(reply).as("ARP reply from passt").isNotNull();
            ByteBuffer r = ByteBuffer.wrap(reply);
            assertThat(Arrays.copyOfRange(reply, 0, 6)).as("to our MAC").isEqualTo(MAC);
            assertThat(r.getShort(12)).as("EtherType ARP").isEqualTo((short) 0x0806);
            assertThat(r.getShort(20)).as("opcode reply").isEqualTo((short) 2);
            assertThat(Arrays.copyOfRange(reply, 28, 32)).as("sender IP: the one asked for").isEqualTo(target);
        } finally {
            passt.close();
        }
        assertThat(process.isAlive()).as("passt process").isFalse();
        assertThat(socket).doesNotExist();
        assertThat(socket.getParent()).doesNotExist();
        passt.close(); // idempotent
    }

    @Test
    void forwardsPickAFreeHostPortForZeroAndListenOnLoopback() throws Exception {
        assumePasst();
        int fixed;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            fixed = s.getLocalPort();
        }
        try (PasstBackend passt = PasstBackend.start(List.of(new Network.PortForward(0, 80),
                new Network.PortForward(fixed, 8080)))) {
            List<Network.PortForward> f = passt.forwards();
            assertThat(f).hasSize(2);
            assertThat(f.get(0).hostPort()).isPositive();
            assertThat(f.get(0).guestPort()).isEqualTo(80);
            assertThat(f.get(1)).isEqualTo(new Network.PortForward(fixed, 8080));
            for (Network.PortForward p : f) {
                try (Socket s = new Socket(InetAddress.getLoopbackAddress(), p.hostPort())) {
                    assertThat(s.isConnected()).as("passt listens on " + p.hostPort()).isTrue();
                }
            }
        }
    }

    @Test
    void aHostPortInUseFailsWithPasstsOwnMessage() throws Exception {
        assumePasst();
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertThatThrownBy(() -> PasstBackend.start(List.of(new Network.PortForward(taken.getLocalPort(), 80))))
                    .isInstanceOf(NetworkUnavailableException.class)
                    .hasMessageContaining("passt exited")
                    .hasMessageContaining(String.valueOf(taken.getLocalPort()));
        }
    }

    @Test
    void aMissingBinaryNamesThePackageToInstall(@TempDir Path empty) {
        assertThatThrownBy(() -> PasstBackend.findBinary(null, empty.toString()))
                .isInstanceOf(NetworkUnavailableException.class)
                .hasMessageContaining("install the package 'passt'")
                .hasMessageContaining("apt-get install passt");
        assertThatThrownBy(() -> PasstBackend.findBinary(empty.resolve("nope").toString(), "/usr/bin"))
                .isInstanceOf(NetworkUnavailableException.class)
                .hasMessageContaining("-Dignition.passt=");
    }

    @Test
    void findsTheBinaryOnThePath(@TempDir Path dir) throws Exception {
        Path fake = Files.createFile(dir.resolve("passt"));
        fake.toFile().setExecutable(true);
        assertThat(PasstBackend.findBinary(null, "/nonexistent:" + dir)).isEqualTo(fake);
    }
}
