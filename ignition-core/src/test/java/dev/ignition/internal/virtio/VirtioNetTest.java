package dev.ignition.internal.virtio;

import static dev.ignition.internal.virtio.VirtioMmio.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.internal.net.FrameBackend;
import dev.ignition.internal.virtio.VirtioDriver.Buf;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** virtio-net driven by the Java guest driver, with a backend that records and injects frames. */
@Timeout(30)
class VirtioNetTest {
    static final byte[] MAC = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

    /** Records what the guest sent; {@link #inject} plays the network sending to the guest. */
    static final class FakeBackend implements FrameBackend {
        final List<byte[]> sent = new CopyOnWriteArrayList<>();
        volatile Receiver receiver;
        volatile boolean closed;

        @Override
        public String describe() {
            return "fake";
        }

        @Override
        public void start(Receiver receiver) {
            this.receiver = receiver;
        }

        @Override
        public void send(byte[] frame) {
            sent.add(frame);
        }

        boolean inject(byte[] frame) throws InterruptedException {
            return receiver.frame(frame);
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    final FakeBackend backend = new FakeBackend();
    final VirtioNet net = new VirtioNet(MAC, backend);

    VirtioDriver started() {
        return new VirtioDriver(net).start(2, 16);
    }

    static byte[] frame(int length, int seed) {
        byte[] f = new byte[length];
        new Random(seed).nextBytes(f);
        return f;
    }

    /** Posts one receive buffer of {@code length} bytes; returns its address. */
    static long postRx(VirtioDriver d, int length) {
        long a = d.alloc(length);
        d.submit(VirtioNet.RX, new Buf(a, length, true));
        return a;
    }

    /** Sends {@code frame} with a zero header, the header and the frame in separate buffers as Linux does. */
    static void transmit(VirtioDriver d, byte[] frame) {
        d.submit(VirtioNet.TX, new Buf(d.alloc(VirtioNet.HEADER), VirtioNet.HEADER, false),
                new Buf(d.alloc(frame.length, frame), frame.length, false));
    }

    @Test
    void offersMacAndLinkStatusAndShowsTheMacInConfigSpace() {
        try (VirtioDriver d = started()) {
            assertThat(d.reg(DEVICE_ID)).isEqualTo(1);
            assertThat(d.deviceFeatures()).isEqualTo(F_VERSION_1 | VirtioNet.F_MAC | VirtioNet.F_STATUS);
            byte[] config = new byte[8];
            for (int i = 0; i < 8; i++) {
                config[i] = (byte) d.device.read(CONFIG + i, 1);
            }
            assertThat(Arrays.copyOf(config, 6)).isEqualTo(MAC);
            assertThat(d.device.read(CONFIG + 6, 2)).as("status: link up").isEqualTo(1);
            assertThat(backend.receiver).as("backend started").isNotNull();
        }
    }

    @Test
    void guestFramesReachTheBackendByteExact() {
        try (VirtioDriver d = started()) {
            byte[] a = frame(60, 1);
            byte[] b = frame(VirtioNet.MAX_FRAME, 2);
            transmit(d, a);
            // Header and frame in one buffer also works.
            byte[] both = new byte[VirtioNet.HEADER + b.length];
            System.arraycopy(b, 0, both, VirtioNet.HEADER, b.length);
            d.submit(VirtioNet.TX, new Buf(d.alloc(both.length, both), both.length, false));
            assertThat(backend.sent).hasSize(2);
            assertThat(backend.sent.get(0)).isEqualTo(a);
            assertThat(backend.sent.get(1)).isEqualTo(b);
            assertThat(d.usedIdx(VirtioNet.TX)).isEqualTo(2);
            assertThat(d.usedElem(VirtioNet.TX, 0)[1]).isZero();
            assertThat(d.reg(INTERRUPT_STATUS)).isEqualTo(INT_USED_BUFFER);
        }
    }

    @Test
    void backendFramesReachTheGuestWithAHeader() throws Exception {
        try (VirtioDriver d = started()) {
            long buf = postRx(d, 1526);
            assertThat(d.usedIdx(VirtioNet.RX)).as("nothing to receive yet").isZero();
            byte[] f = frame(342, 3);
            assertThat(backend.inject(f)).isTrue();
            assertThat(d.usedIdx(VirtioNet.RX)).isEqualTo(1);
            assertThat(d.usedElem(VirtioNet.RX, 0)[1]).isEqualTo(VirtioNet.HEADER + f.length);
            byte[] header = d.memory.read(buf, VirtioNet.HEADER);
            byte[] expectedHeader = new byte[VirtioNet.HEADER];
            expectedHeader[10] = 1; // num_buffers
            assertThat(header).isEqualTo(expectedHeader);
            assertThat(d.memory.read(buf + VirtioNet.HEADER, f.length)).isEqualTo(f);
            assertThat(d.reg(INTERRUPT_STATUS) & INT_USED_BUFFER).isEqualTo(INT_USED_BUFFER);
        }
    }

    @Test
    void framesWaitForReceiveBuffersInOrder() throws Exception {
        try (VirtioDriver d = started()) {
            List<byte[]> frames = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                frames.add(frame(100 + i, 10 + i));
                backend.inject(frames.get(i));
            }
            assertThat(d.usedIdx(VirtioNet.RX)).isZero();
            long[] bufs = {postRx(d, 1526), postRx(d, 1526), postRx(d, 1526)};
            assertThat(d.usedIdx(VirtioNet.RX)).isEqualTo(3);
            for (int i = 0; i < 3; i++) {
                assertThat(d.memory.read(bufs[i] + VirtioNet.HEADER, frames.get(i).length)).isEqualTo(frames.get(i));
            }
        }
    }

    @Test
    void aFullReceiveQueuePushesBackOnTheBackendUntilTheGuestPostsBuffers() throws Exception {
        try (VirtioDriver d = started()) {
            for (int i = 0; i < VirtioNet.RX_QUEUE_FRAMES; i++) {
                backend.inject(frame(64, i));
            }
            CompletableFuture<Boolean> blocked = CompletableFuture.supplyAsync(() -> {
                try {
                    return backend.inject(frame(64, -1));
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            assertThat(blocked).as("waits while the queue is full").failsWithin(300, TimeUnit.MILLISECONDS)
                    .withThrowableOfType(TimeoutException.class);
            postRx(d, 1526);
            assertThat(blocked.get(5, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void closeReleasesAWaitingBackendThreadAndClosesTheBackend() throws Exception {
        VirtioDriver d = started();
        for (int i = 0; i < VirtioNet.RX_QUEUE_FRAMES; i++) {
            backend.inject(frame(64, i));
        }
        CompletableFuture<Boolean> blocked = CompletableFuture.supplyAsync(() -> {
            try {
                return backend.inject(frame(64, -1));
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(100);
        d.close();
        assertThat(blocked.get(5, TimeUnit.SECONDS)).as("closed: no more frames wanted").isFalse();
        assertThat(backend.closed).isTrue();
    }

    @Test
    void oversizeShortAndGsoFramesAreDroppedAndTheDeviceKeepsWorking() {
        try (VirtioDriver d = started()) {
            transmit(d, frame(VirtioNet.MAX_FRAME + 1, 4));
            transmit(d, frame(65_000, 5));
            transmit(d, frame(VirtioNet.MIN_FRAME - 1, 6));
            byte[] gso = new byte[VirtioNet.HEADER + 60];
            gso[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
            d.submit(VirtioNet.TX, new Buf(d.alloc(gso.length, gso), gso.length, false));
            assertThat(backend.sent).isEmpty();
            assertThat(net.txDropped()).isEqualTo(4);
            assertThat(d.usedIdx(VirtioNet.TX)).as("dropped buffers are returned").isEqualTo(4);
            assertThat(d.needsReset()).isFalse();
            byte[] ok = frame(60, 7);
            transmit(d, ok);
            assertThat(backend.sent).containsExactly(ok);
        }
    }

    @Test
    void aFrameLargerThanTheReceiveBufferIsDroppedAndTheBufferReturnedEmpty() throws Exception {
        try (VirtioDriver d = started()) {
            postRx(d, 100);
            backend.inject(frame(200, 8));
            assertThat(d.usedIdx(VirtioNet.RX)).isEqualTo(1);
            assertThat(d.usedElem(VirtioNet.RX, 0)[1]).isZero();
            assertThat(net.rxDropped()).isEqualTo(1);
            long buf = postRx(d, 1526);
            byte[] f = frame(200, 9);
            backend.inject(f);
            assertThat(d.memory.read(buf + VirtioNet.HEADER, f.length)).isEqualTo(f);
        }
    }

    static void assertNeedsReset(VirtioDriver d, String why) {
        assertThat(d.needsReset()).as("DEVICE_NEEDS_RESET").isTrue();
        assertThat(d.device.failure()).contains(why);
        assertThat(d.reg(INTERRUPT_STATUS) & INT_CONFIG_CHANGE).isEqualTo(INT_CONFIG_CHANGE);
    }

    @Test
    void transmitChainShorterThanTheHeaderNeedsReset() {
        try (VirtioDriver d = started()) {
            d.submit(VirtioNet.TX, new Buf(d.alloc(8), 8, false));
            assertNeedsReset(d, "shorter than the 12-byte header");
            assertThat(backend.sent).isEmpty();
        }
    }

    @Test
    void transmitChainWithWritableBuffersNeedsReset() {
        try (VirtioDriver d = started()) {
            d.submit(VirtioNet.TX, new Buf(d.alloc(72), 72, false), new Buf(d.alloc(8), 8, true));
            assertNeedsReset(d, "device-writable");
        }
    }

    @Test
    void receiveChainWithReadableBuffersNeedsReset() throws Exception {
        try (VirtioDriver d = started()) {
            d.submit(VirtioNet.RX, new Buf(d.alloc(1526), 1526, false));
            backend.inject(frame(64, 11));
            assertNeedsReset(d, "device-readable");
        }
    }

    @Test
    void transmitBufferOutsideGuestRamNeedsResetAndAResetRecovers() {
        try (VirtioDriver d = started()) {
            d.rawDesc(VirtioNet.TX, 0, VirtioDriver.RAM_SIZE - 8, 72, 0, 0);
            d.publish(VirtioNet.TX, 0);
            d.notifyQueue(VirtioNet.TX);
            assertNeedsReset(d, "not inside guest RAM");
            assertThat(backend.sent).isEmpty();
            d.start(2, 16);
            assertThat(d.needsReset()).isFalse();
            byte[] ok = frame(60, 12);
            transmit(d, ok);
            assertThat(backend.sent).containsExactly(ok);
        }
    }

    @Test
    void receiveDescriptorLoopNeedsReset() throws Exception {
        try (VirtioDriver d = started()) {
            long b = d.alloc(1526);
            d.rawDesc(VirtioNet.RX, 0, b, 1526, Virtqueue.F_WRITE | Virtqueue.F_NEXT, 1);
            d.rawDesc(VirtioNet.RX, 1, b, 1526, Virtqueue.F_WRITE | Virtqueue.F_NEXT, 0);
            d.publish(VirtioNet.RX, 0);
            d.notifyQueue(VirtioNet.RX);
            backend.inject(frame(64, 13));
            assertNeedsReset(d, "loop");
        }
    }

    @Test
    void deviceResetDropsQueuedFrames() throws Exception {
        try (VirtioDriver d = started()) {
            backend.inject(frame(64, 14));
            backend.inject(frame(64, 15));
            d.start(2, 16); // the driver resets and starts over
            long buf = postRx(d, 1526);
            assertThat(d.usedIdx(VirtioNet.RX)).isZero();
            assertThat(net.rxDropped()).isEqualTo(2);
            byte[] f = frame(64, 16);
            backend.inject(f);
            assertThat(d.memory.read(buf + VirtioNet.HEADER, 64)).isEqualTo(f);
        }
    }

    /** The status field as Linux's config work reads it: one 2-byte access. */
    static int linkStatus(VirtioDriver d) {
        return (int) d.device.read(CONFIG + 6, 2);
    }

    @Test
    void aRestoredDeviceTakesTheLinkDownThenUpOnceTheDriverHasSeenIt() throws Exception {
        try (VirtioDriver d = started()) {
            long rx = postRx(d, 1526);
            d.reg(INTERRUPT_ACK, d.reg(INTERRUPT_STATUS));
            int generation = d.reg(CONFIG_GENERATION);
            byte[] state = d.device.saveState();

            FakeBackend second = new FakeBackend();
            VirtioNet restoredNet = new VirtioNet(MAC, second);
            VirtioDriver r = new VirtioDriver(restoredNet, d.memory);
            r.device.restoreState(state);
            assertThat(r.reg(INTERRUPT_STATUS)).as("link change announced").isEqualTo(INT_CONFIG_CHANGE);
            assertThat(r.reg(CONFIG_GENERATION)).isNotEqualTo(generation);
            r.device.repulseInterrupt(); // the VM starts: the edge reaches the restored interrupt controller
            assertThat(r.lineLevels).endsWith(false, true);

            // The driver's interrupt handler acknowledges, then its config work reads the status.
            r.reg(INTERRUPT_ACK, INT_CONFIG_CHANGE);
            assertThat(r.reg(INTERRUPT_STATUS)).isZero();
            int down = r.reg(CONFIG_GENERATION);
            assertThat(linkStatus(r)).as("link down").isZero();
            assertThat(r.reg(INTERRUPT_STATUS)).as("and at once up again, announced").isEqualTo(INT_CONFIG_CHANGE);
            assertThat(r.reg(CONFIG_GENERATION)).isNotEqualTo(down);
            r.reg(INTERRUPT_ACK, INT_CONFIG_CHANGE);
            assertThat(linkStatus(r)).as("link up").isEqualTo(VirtioNet.S_LINK_UP);
            assertThat(r.reg(INTERRUPT_STATUS)).as("no further change").isZero();
            assertThat(restoredNet.linkResets()).isEqualTo(1);
            // Reading the MAC (bytes 0-5) does not count as having seen the status.
            assertThat(r.device.read(CONFIG, 4)).isEqualTo(0x12005452L);

            // The restored receive queue carries on with the new backend.
            byte[] f = frame(100, 20);
            assertThat(second.inject(f)).isTrue();
            assertThat(r.memory.read(rx + VirtioNet.HEADER, f.length)).isEqualTo(f);
        }
    }

    @Test
    void aDeviceRestoredBeforeItsDriverRanKeepsTheLinkUpAndRaisesNothing() {
        try (VirtioDriver d = new VirtioDriver(net)) {
            d.negotiate(d.deviceFeatures());
            byte[] state = d.device.saveState();
            VirtioNet restoredNet = new VirtioNet(MAC, new FakeBackend());
            VirtioDriver r = new VirtioDriver(restoredNet, d.memory);
            r.device.restoreState(state);
            assertThat(r.reg(INTERRUPT_STATUS)).isZero();
            assertThat(r.lineLevels).isEmpty();
            assertThat(linkStatus(r)).isEqualTo(VirtioNet.S_LINK_UP);
            assertThat(restoredNet.linkResets()).isZero();
        }
    }

    @Test
    void aResetDuringTheLinkResetBringsTheLinkUp() {
        try (VirtioDriver d = started()) {
            byte[] state = d.device.saveState();
            VirtioDriver r = new VirtioDriver(new VirtioNet(MAC, new FakeBackend()), d.memory);
            r.device.restoreState(state);
            r.start(2, 16); // a driver that resets instead of reading the status
            assertThat(linkStatus(r)).isEqualTo(VirtioNet.S_LINK_UP);
            assertThat(r.reg(INTERRUPT_STATUS)).isZero();
        }
    }
}
