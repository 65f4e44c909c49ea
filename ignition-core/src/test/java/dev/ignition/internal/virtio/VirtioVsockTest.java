package dev.ignition.internal.virtio;

import static dev.ignition.internal.virtio.VirtioVsock.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.device.Vsock;
import dev.ignition.internal.virtio.VirtioDriver.Buf;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** virtio-vsock driven by a Java "guest" that speaks the packet protocol over the rings. */
@Timeout(60)
class VirtioVsockTest {
    static final long CID = 3;
    static final Duration T = Duration.ofSeconds(10);

    /** The guest side: posts receive buffers, sends packets, collects what the device delivers. */
    static final class Guest implements AutoCloseable {
        final VirtioVsock vsock = new VirtioVsock(CID);
        final VirtioDriver d = new VirtioDriver(vsock);
        final Map<Integer, Long> rxBuffers = new HashMap<>();
        int rxSeen;
        final List<Packet> received = new ArrayList<>();

        record Packet(VirtioVsock.Header h, byte[] payload) {}

        Guest(int rxBuffers, int rxBufferSize) {
            d.start(3, 64);
            for (int i = 0; i < rxBuffers; i++) {
                postRx(rxBufferSize);
            }
            d.submit(EVENT, new Buf(d.alloc(8), 8, true));
        }

        void postRx(int size) {
            long a = d.alloc(size);
            int head = d.submit(RX, new Buf(a, size, true));
            rxBuffers.put(head, a);
        }

        /** Sends a packet from guest port {@code src} to host port {@code dst}. */
        void send(int src, int dst, int op, int flags, int bufAlloc, int fwdCnt, byte[] payload) {
            VirtioVsock.Header h = new VirtioVsock.Header(CID, Vsock.HOST_CID, src, dst, payload.length, TYPE_STREAM, op,
                    flags, bufAlloc, fwdCnt);
            long ha = d.alloc(HEADER, h.bytes());
            if (payload.length == 0) {
                d.submit(TX, new Buf(ha, HEADER, false));
            } else {
                d.submit(TX, new Buf(ha, HEADER, false), new Buf(d.alloc(payload.length, payload), payload.length, false));
            }
        }

        /** Takes what the device put in the receive queue since the last call, and reposts the buffers. */
        List<Packet> poll() {
            List<Packet> out = new ArrayList<>();
            while (rxSeen != d.usedIdx(RX)) {
                long[] e = d.usedElem(RX, rxSeen);
                rxSeen = (rxSeen + 1) & 0xffff;
                long a = rxBuffers.remove((int) e[0]);
                VirtioVsock.Header h = VirtioVsock.Header.parse(d.memory.read(a, HEADER));
                assertThat(e[1]).as("used length").isEqualTo(HEADER + h.len());
                out.add(new Packet(h, d.memory.read(a + HEADER, h.len())));
            }
            for (int i = 0; i < out.size(); i++) {
                postRx(HEADER + 4096);
            }
            received.addAll(out);
            return out;
        }

        Packet pollOne(int op) {
            List<Packet> p = poll();
            assertThat(p).extracting(x -> x.h().op()).containsExactly(op);
            return p.getFirst();
        }

        @Override
        public void close() {
            d.close();
        }
    }

    /** Polls until a packet of type {@code op} arrives (a host thread is producing it). */
    static Guest.Packet awaitPacket(Guest g, int op) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            for (Guest.Packet p : g.poll()) {
                if (p.h().op() == op) {
                    return p;
                }
            }
            Thread.sleep(5);
        }
        throw new AssertionError("no packet with op " + op);
    }

    static CompletableFuture<Vsock.Connection> connectAsync(Guest g, int guestPort) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return g.vsock.connect(guestPort, T);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    @Test
    void configHoldsTheGuestCid() {
        try (Guest g = new Guest(0, 0)) {
            assertThat(g.d.reg(VirtioMmio.DEVICE_ID)).isEqualTo(19);
            assertThat(g.d.device.read(0x100, 8)).isEqualTo(CID);
        }
        assertThatThrownBy(() -> new VirtioVsock(2)).hasMessageContaining("[3, 2^32 - 2]");
    }

    @Test
    void guestConnectsToAHostListenerAndDataFlowsBothWays() throws Exception {
        try (Guest g = new Guest(8, HEADER + 4096); Vsock.Listener l = g.vsock.listen(5000)) {
            g.send(1000, 5000, OP_REQUEST, 0, 65536, 0, new byte[0]);
            Vsock.Connection c = l.accept(T);
            assertThat(c.hostPort()).isEqualTo(5000);
            assertThat(c.guestPort()).isEqualTo(1000);
            VirtioVsock.Header resp = g.pollOne(OP_RESPONSE).h();
            assertThat(resp.srcCid()).isEqualTo(2);
            assertThat(resp.dstCid()).isEqualTo(CID);
            assertThat(resp.srcPort()).isEqualTo(5000);
            assertThat(resp.dstPort()).isEqualTo(1000);
            assertThat(resp.bufAlloc()).isEqualTo(BUF_ALLOC);

            g.send(1000, 5000, OP_RW, 0, 65536, 0, "hello".getBytes());
            byte[] got = new byte[5];
            assertThat(c.input().readNBytes(got, 0, 5)).isEqualTo(5);
            assertThat(new String(got)).isEqualTo("hello");
            Guest.Packet credit = null;
            for (var p : g.poll()) {
                if (p.h().op() == OP_CREDIT_UPDATE) {
                    credit = p;
                }
            }
            assertThat(credit).as("the host tells the guest its buffer drained").isNotNull();
            assertThat(credit.h().fwdCnt()).isEqualTo(5);

            c.output().write("world".getBytes());
            Guest.Packet rw = g.pollOne(OP_RW);
            assertThat(new String(rw.payload())).isEqualTo("world");
            assertThat(rw.h().dstPort()).isEqualTo(1000);

            g.send(1000, 5000, OP_SHUTDOWN, SHUTDOWN_SEND, 65536, 5, new byte[0]);
            assertThat(c.input().read()).as("end of stream after the guest's SHUTDOWN(SEND)").isEqualTo(-1);
            c.close();
            Guest.Packet bye = g.pollOne(OP_SHUTDOWN);
            assertThat(bye.h().flags()).isEqualTo(SHUTDOWN_RCV | SHUTDOWN_SEND);
            g.send(1000, 5000, OP_RST, 0, 65536, 5, new byte[0]);
            assertThat(g.d.needsReset()).isFalse();
        }
    }

    @Test
    void aConnectionToAPortNobodyListensOnIsReset() {
        try (Guest g = new Guest(4, HEADER + 4096)) {
            g.send(1000, 4444, OP_REQUEST, 0, 65536, 0, new byte[0]);
            VirtioVsock.Header rst = g.pollOne(OP_RST).h();
            assertThat(rst.dstPort()).isEqualTo(1000);
            assertThat(rst.srcPort()).isEqualTo(4444);
        }
    }

    @Test
    void hostConnectsToAGuestListener() throws Exception {
        try (Guest g = new Guest(4, HEADER + 4096)) {
            CompletableFuture<Vsock.Connection> f = connectAsync(g, 7000);
            VirtioVsock.Header req = awaitPacket(g, OP_REQUEST).h();
            assertThat(req.dstPort()).isEqualTo(7000);
            g.send(7000, req.srcPort(), OP_RESPONSE, 0, 65536, 0, new byte[0]);
            Vsock.Connection c = f.get(10, TimeUnit.SECONDS);
            assertThat(c.guestPort()).isEqualTo(7000);
            assertThat(c.hostPort()).isEqualTo(req.srcPort());

            CompletableFuture<Vsock.Connection> refused = connectAsync(g, 7001);
            VirtioVsock.Header req2 = awaitPacket(g, OP_REQUEST).h();
            g.send(7001, req2.srcPort(), OP_RST, 0, 0, 0, new byte[0]);
            assertThatThrownBy(() -> refused.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(UncheckedIOException.class)
                    .hasRootCauseInstanceOf(ConnectException.class);
        }
    }

    @Test
    void connectTimesOutWhenTheGuestNeverAnswers() {
        try (Guest g = new Guest(4, HEADER + 4096)) {
            assertThatThrownBy(() -> g.vsock.connect(7000, Duration.ofMillis(200)))
                    .isInstanceOf(SocketTimeoutException.class).hasMessageContaining("7000");
        }
    }

    @Test
    void hostSendsNoMoreThanTheGuestsCredit() throws Exception {
        try (Guest g = new Guest(16, HEADER + 4096); Vsock.Listener l = g.vsock.listen(5000)) {
            g.send(1000, 5000, OP_REQUEST, 0, 100, 0, new byte[0]);
            Vsock.Connection c = l.accept(T);
            g.poll();
            byte[] data = new byte[300];
            new Random(1).nextBytes(data);
            c.output().write(data);
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            g.poll().forEach(p -> got.writeBytes(p.payload()));
            assertThat(got.size()).isEqualTo(100);
            g.send(1000, 5000, OP_CREDIT_UPDATE, 0, 100, 100, new byte[0]);
            g.poll().forEach(p -> got.writeBytes(p.payload()));
            assertThat(got.size()).isEqualTo(200);
            g.send(1000, 5000, OP_CREDIT_UPDATE, 0, 1000, 200, new byte[0]);
            g.poll().forEach(p -> got.writeBytes(p.payload()));
            assertThat(got.toByteArray()).isEqualTo(data);
        }
    }

    @Test
    void oneMebibyteEchoesExactlyThroughAHostEchoServer() throws Exception {
        byte[] data = new byte[1 << 20];
        new Random(2).nextBytes(data);
        try (Guest g = new Guest(32, HEADER + 4096); Vsock.Listener l = g.vsock.listen(5000)) {
            CompletableFuture<Void> echo = CompletableFuture.runAsync(() -> {
                try (Vsock.Connection c = l.accept(T)) {
                    InputStream in = c.input();
                    OutputStream out = c.output();
                    byte[] buf = new byte[8192];
                    for (int n; (n = in.read(buf)) > 0; ) {
                        out.write(buf, 0, n);
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            int guestBuf = 64 * 1024;
            g.send(1000, 5000, OP_REQUEST, 0, guestBuf, 0, new byte[0]);
            int sent = 0;
            long hostFwd = 0;
            int consumed = 0;
            ByteArrayOutputStream back = new ByteArrayOutputStream();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(50);
            while (back.size() < data.length) {
                assertThat(System.nanoTime()).as("echo finished in time").isLessThan(deadline);
                long credit = BUF_ALLOC - (sent - hostFwd);
                int n = (int) Math.min(Math.min(credit, 16 * 1024), data.length - sent);
                if (n > 0) {
                    g.send(1000, 5000, OP_RW, 0, guestBuf, consumed, Arrays.copyOfRange(data, sent, sent + n));
                    sent += n;
                }
                boolean progress = n > 0;
                for (var p : g.poll()) {
                    hostFwd = Integer.toUnsignedLong(p.h().fwdCnt());
                    if (p.h().op() == OP_RW) {
                        back.writeBytes(p.payload());
                        progress = true;
                    }
                    assertThat(p.h().op()).isIn(OP_RESPONSE, OP_RW, OP_CREDIT_UPDATE);
                }
                if (back.size() - consumed >= guestBuf / 2 || !progress) {
                    consumed = back.size(); // the guest application read it: grant the credit back
                    g.send(1000, 5000, OP_CREDIT_UPDATE, 0, guestBuf, consumed, new byte[0]);
                    if (!progress) {
                        Thread.sleep(1);
                    }
                }
            }
            assertThat(back.toByteArray()).isEqualTo(data);
            g.send(1000, 5000, OP_SHUTDOWN, SHUTDOWN_SEND | SHUTDOWN_RCV, guestBuf, consumed, new byte[0]);
            echo.get(10, TimeUnit.SECONDS);
            assertThat(g.d.needsReset()).isFalse();
        }
    }

    @Test
    void aGuestThatOverrunsItsCreditIsReset() throws Exception {
        try (Guest g = new Guest(8, HEADER + 4096); Vsock.Listener l = g.vsock.listen(5000)) {
            g.send(1000, 5000, OP_REQUEST, 0, 65536, 0, new byte[0]);
            Vsock.Connection c = l.accept(T);
            g.poll();
            byte[] chunk = new byte[MAX_PAYLOAD];
            for (int i = 0; i < BUF_ALLOC / MAX_PAYLOAD; i++) {
                g.send(1000, 5000, OP_RW, 0, 65536, 0, chunk);
            }
            assertThat(g.poll()).isEmpty();
            g.send(1000, 5000, OP_RW, 0, 65536, 0, new byte[1]); // one byte more than granted
            g.pollOne(OP_RST);
            assertThat(c.input().readAllBytes()).as("what was within the credit, then end of stream")
                    .hasSize(BUF_ALLOC);
            assertThat(g.d.needsReset()).isFalse();
        }
    }

    @Test
    void spoofedSourcesAreDroppedAndOtherDestinationsReset() throws Exception {
        try (Guest g = new Guest(8, HEADER + 4096); Vsock.Listener l = g.vsock.listen(5000)) {
            VirtioVsock.Header spoof = new VirtioVsock.Header(99, Vsock.HOST_CID, 1000, 5000, 0, TYPE_STREAM, OP_REQUEST,
                    0, 65536, 0);
            g.d.submit(TX, new Buf(g.d.alloc(HEADER, spoof.bytes()), HEADER, false));
            assertThat(g.poll()).isEmpty();
            assertThatThrownBy(() -> l.accept(Duration.ofMillis(100))).isInstanceOf(SocketTimeoutException.class);

            VirtioVsock.Header toOther = new VirtioVsock.Header(CID, 7, 1000, 5000, 0, TYPE_STREAM, OP_REQUEST, 0, 0, 0);
            g.d.submit(TX, new Buf(g.d.alloc(HEADER, toOther.bytes()), HEADER, false));
            g.pollOne(OP_RST);
            VirtioVsock.Header dgram = new VirtioVsock.Header(CID, 2, 1000, 5000, 0, 3, OP_REQUEST, 0, 0, 0);
            g.d.submit(TX, new Buf(g.d.alloc(HEADER, dgram.bytes()), HEADER, false));
            g.pollOne(OP_RST);
            g.send(1000, 5000, OP_RW, 0, 0, 0, new byte[] {1}); // no such connection
            g.pollOne(OP_RST);
            g.send(1000, 5000, 99, 0, 0, 0, new byte[0]); // unknown op
            g.pollOne(OP_RST);
            assertThat(g.d.needsReset()).isFalse();
        }
    }

    @Test
    void aGuestFloodingBadPacketsWithoutReceiveBuffersCannotGrowTheHostsQueue() throws Exception {
        try (Guest g = new Guest(0, 0); Vsock.Listener l = g.vsock.listen(5000)) {
            g.send(1000, 5000, OP_REQUEST, 0, 65536, 0, new byte[0]);
            l.accept(T);
            for (int i = 0; i < 3000; i++) {
                g.send(2000 + i, 4444, OP_REQUEST, 0, 0, 0, new byte[0]); // each earns a reset
                g.send(1000, 5000, OP_CREDIT_REQUEST, 0, 65536, 0, new byte[0]); // each asks for an update
            }
            assertThat(g.vsock.controlBacklog()).isLessThanOrEqualTo(MAX_CONTROL);
            g.postRx(HEADER + 4096);
            assertThat(g.poll()).first().satisfies(p -> assertThat(p.h().op()).as("the response still comes first")
                    .isEqualTo(OP_RESPONSE));
            assertThat(g.d.needsReset()).isFalse();
        }
    }

    @Test
    void malformedPacketsNeedReset() {
        try (Guest g = new Guest(4, HEADER + 4096)) {
            g.d.submit(TX, new Buf(g.d.alloc(20), 20, false));
            assertThat(g.d.needsReset()).isTrue();
            assertThat(g.d.device.failure()).contains("shorter than its 44-byte header");
        }
        try (Guest g = new Guest(4, HEADER + 4096)) {
            VirtioVsock.Header lies = new VirtioVsock.Header(CID, 2, 1000, 5000, 1000, TYPE_STREAM, OP_RW, 0, 0, 0);
            g.d.submit(TX, new Buf(g.d.alloc(HEADER, lies.bytes()), HEADER, false), new Buf(g.d.alloc(10), 10, false));
            assertThat(g.d.needsReset()).isTrue();
            assertThat(g.d.device.failure()).contains("claims 1000 payload bytes");
        }
        try (Guest g = new Guest(0, 0)) {
            g.postRx(16); // too small for a header
            g.send(1000, 4444, OP_REQUEST, 0, 0, 0, new byte[0]); // provokes a reset packet into it
            assertThat(g.d.needsReset()).isTrue();
        }
    }

    @Test
    void theRxLayoutOfLinux61HeaderThenDataDescriptorsWorks() throws Exception {
        try (Guest g = new Guest(0, 0); Vsock.Listener l = g.vsock.listen(5000)) {
            long h = g.d.alloc(HEADER);
            long data = g.d.alloc(4096);
            g.d.submit(RX, new Buf(h, HEADER, true), new Buf(data, 4096, true));
            g.send(1000, 5000, OP_REQUEST, 0, 65536, 0, new byte[0]);
            Vsock.Connection c = l.accept(T);
            g.d.submit(RX, new Buf(h, HEADER, true), new Buf(data, 4096, true));
            c.output().write("split".getBytes());
            VirtioVsock.Header rw = VirtioVsock.Header.parse(g.d.memory.read(h, HEADER));
            assertThat(rw.op()).isEqualTo(OP_RW);
            assertThat(new String(g.d.memory.read(data, rw.len()))).isEqualTo("split");
        }
    }

    @Test
    void aRestoredDeviceTellsTheGuestItsTransportWasReset() throws Exception {
        try (Guest g = new Guest(4, HEADER + 4096)) {
            byte[] state = g.d.device.saveState();
            VirtioVsock fresh = new VirtioVsock(CID);
            VirtioDriver restored = new VirtioDriver(fresh, g.d.memory);
            restored.device.restoreState(state);
            restored.device.deviceEvent();
            assertThat(g.d.usedIdx(EVENT)).isEqualTo(1);
            assertThat(g.d.usedElem(EVENT, 0)[1]).isEqualTo(4);
            assertThat(restored.reg(VirtioMmio.INTERRUPT_STATUS)).isEqualTo(VirtioMmio.INT_USED_BUFFER);
        }
    }

    @Test
    void aHostListenerOnARestoredDeviceDeliversThePendingTransportResetFirst() throws Exception {
        // A guest connecting after a restore must already have processed the reset, or the reset kills
        // its new connection (seen in a nested linux-guest run): listening is host-side activity.
        try (Guest g = new Guest(4, HEADER + 4096)) {
            byte[] state = g.d.device.saveState();
            VirtioVsock fresh = new VirtioVsock(CID);
            VirtioDriver restored = new VirtioDriver(fresh, g.d.memory);
            restored.device.restoreState(state);
            assertThat(g.d.usedIdx(EVENT)).isZero();
            try (Vsock.Listener l = fresh.listen(6000)) {
                assertThat(g.d.usedIdx(EVENT)).as("delivered by listen(), before any guest packet").isEqualTo(1);
                assertThat(restored.reg(VirtioMmio.INTERRUPT_STATUS)).isEqualTo(VirtioMmio.INT_USED_BUFFER);
            }
        }
    }

    @Test
    void closingTheDeviceEndsBlockedHostCalls() throws Exception {
        Guest g = new Guest(4, HEADER + 4096);
        Vsock.Listener l = g.vsock.listen(5000);
        g.send(1000, 5000, OP_REQUEST, 0, 65536, 0, new byte[0]);
        Vsock.Connection c = l.accept(T);
        CompletableFuture<Integer> read = CompletableFuture.supplyAsync(() -> {
            try {
                return c.input().read();
            } catch (IOException e) {
                return -2;
            }
        });
        Thread.sleep(100);
        g.close();
        assertThat(read.get(5, TimeUnit.SECONDS)).isEqualTo(-1);
        assertThatThrownBy(() -> l.accept(T)).hasMessageContaining("closed");
        assertThatThrownBy(() -> g.vsock.listen(1)).hasMessageContaining("closed");
    }
}
