package dev.ignition.internal.virtio;

import dev.ignition.device.Vsock;
import dev.ignition.memory.GuestMemory;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * virtio-vsock (virtio 1.x section 5.10), stream sockets only, with the host end exposed as
 * {@link Vsock}. Queues: 0 receive (device fills), 1 transmit, 2 event (device fills).
 *
 * <p>Guest packets are checked: a header shorter than 44 bytes, a payload length beyond the
 * buffers or above 64 KiB is a protocol violation; a packet from another source CID is dropped;
 * one for another destination, of another type, for an unknown connection or that overruns the
 * credit the host granted is answered with a reset. Connection count and accept backlogs are
 * capped, so a guest cannot make the host hold unbounded memory.
 *
 * <p>Locking: the transport's monitor, then {@link #lock}. Host threads take only {@link #lock}
 * and call the transport's device-event callback after releasing it.
 */
public final class VirtioVsock implements VirtioDeviceModel, Vsock {
    public static final int DEVICE_ID = 19;
    static final int RX = 0;
    static final int TX = 1;
    static final int EVENT = 2;
    static final int HEADER = 44;
    static final int MAX_PAYLOAD = 64 * 1024;
    /** Receive buffer per connection: the credit the host grants the guest. */
    static final int BUF_ALLOC = 256 * 1024;
    /** Host bytes queued for the guest per connection before writers block. */
    static final int TX_LIMIT = 256 * 1024;
    static final int MAX_CONNECTIONS = 1024;
    static final int BACKLOG = 64;
    /** Packets queued for the guest beyond which advisory ones are dropped. */
    static final int MAX_CONTROL = 1024;
    static final int TYPE_STREAM = 1;
    static final int OP_REQUEST = 1;
    static final int OP_RESPONSE = 2;
    static final int OP_RST = 3;
    static final int OP_SHUTDOWN = 4;
    static final int OP_RW = 5;
    static final int OP_CREDIT_UPDATE = 6;
    static final int OP_CREDIT_REQUEST = 7;
    static final int SHUTDOWN_RCV = 1;
    static final int SHUTDOWN_SEND = 2;
    static final int EVENT_TRANSPORT_RESET = 0;
    private static final int FIRST_EPHEMERAL = 49152;

    private final long guestCid;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Map<Long, Conn> conns = new LinkedHashMap<>();
    private final Map<Integer, ListenerImpl> listeners = new HashMap<>();
    private final ArrayDeque<Header> control = new ArrayDeque<>();
    private boolean transportResetPending;
    private boolean closed;
    private int nextEphemeral = FIRST_EPHEMERAL;
    private Runnable deviceEvent = () -> {};

    /** A packet header; {@code len} is the payload length. */
    record Header(long srcCid, long dstCid, int srcPort, int dstPort, int len, int type, int op, int flags,
            int bufAlloc, int fwdCnt) {
        static Header parse(byte[] b) {
            ByteBuffer h = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
            return new Header(h.getLong(0), h.getLong(8), h.getInt(16), h.getInt(20), h.getInt(24),
                    h.getShort(28) & 0xffff, h.getShort(30) & 0xffff, h.getInt(32), h.getInt(36), h.getInt(40));
        }

        byte[] bytes() {
            return ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN).putLong(srcCid).putLong(dstCid)
                    .putInt(srcPort).putInt(dstPort).putInt(len).putShort((short) type).putShort((short) op)
                    .putInt(flags).putInt(bufAlloc).putInt(fwdCnt).array();
        }
    }

    /**
     * @param guestCid the guest's context id: at least 3, below 2^32 - 1
     */
    public VirtioVsock(long guestCid) {
        if (guestCid < 3 || guestCid >= 0xffff_ffffL) {
            throw new IllegalArgumentException("a guest CID must be in [3, 2^32 - 2], was " + guestCid);
        }
        this.guestCid = guestCid;
    }

    // ---- VirtioDeviceModel ----

    @Override
    public int deviceId() {
        return DEVICE_ID;
    }

    @Override
    public String kind() {
        return "virtio-vsock";
    }

    @Override
    public long features() {
        return 0; // stream sockets need no feature bit
    }

    @Override
    public int queueCount() {
        return 3;
    }

    @Override
    public byte[] config() {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(guestCid).array();
    }

    @Override
    public boolean deviceFills(int queue) {
        return queue == RX || queue == EVENT;
    }

    @Override
    public void bind(Runnable deviceEvent) {
        this.deviceEvent = deviceEvent;
    }

    @Override
    public int handle(int queue, DescriptorChain chain, GuestMemory memory) {
        if (chain.readableLength() < HEADER) {
            throw new VirtioProtocolException("vsock packet shorter than its " + HEADER + "-byte header");
        }
        byte[] hb = new byte[HEADER];
        chain.read(memory, 0, hb);
        Header h = Header.parse(hb);
        long len = Integer.toUnsignedLong(h.len());
        if (len > MAX_PAYLOAD || len > chain.readableLength() - HEADER) {
            throw new VirtioProtocolException("vsock packet claims " + len + " payload bytes; its buffers hold "
                    + (chain.readableLength() - HEADER) + " (at most " + MAX_PAYLOAD + ")");
        }
        byte[] payload = new byte[(int) len];
        chain.read(memory, HEADER, payload);
        lock.lock();
        try {
            receive(h, payload);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        return 0;
    }

    private void receive(Header h, byte[] payload) {
        if (h.srcCid() != guestCid) {
            return; // a spoofed source: nobody to answer
        }
        if (h.dstCid() != HOST_CID || h.type() != TYPE_STREAM) {
            if (h.op() != OP_RST) {
                reply(h, OP_RST, 0);
            }
            return;
        }
        Conn c = conns.get(key(h.dstPort(), h.srcPort()));
        if (c != null) {
            c.peerBufAlloc = Integer.toUnsignedLong(h.bufAlloc());
            c.peerFwdCnt = Integer.toUnsignedLong(h.fwdCnt());
        }
        switch (h.op()) {
            case OP_REQUEST -> accept(h, c);
            case OP_RESPONSE -> {
                if (c != null && c.state == State.CONNECTING) {
                    c.state = State.CONNECTED;
                } else {
                    reset(h, c);
                }
            }
            case OP_RW -> {
                if (c == null || c.state != State.CONNECTED || c.peerDoneSending) {
                    reset(h, c);
                } else if (payload.length > BUF_ALLOC - c.rxCount) {
                    reset(h, c); // the guest ignored the credit it was given
                } else if (payload.length > 0 && !c.hostClosed) {
                    c.rx.add(payload);
                    c.rxCount += payload.length;
                }
            }
            case OP_CREDIT_UPDATE -> {
                if (c == null) {
                    reset(h, null);
                }
            }
            case OP_CREDIT_REQUEST -> {
                if (c == null) {
                    reset(h, null);
                } else {
                    queue(packet(c, OP_CREDIT_UPDATE, 0));
                }
            }
            case OP_SHUTDOWN -> {
                if (c == null) {
                    reset(h, null);
                    return;
                }
                c.peerDoneSending |= (h.flags() & SHUTDOWN_SEND) != 0;
                c.peerDoneReceiving |= (h.flags() & SHUTDOWN_RCV) != 0;
                if (c.peerDoneSending && c.peerDoneReceiving) {
                    reset(h, c);
                }
            }
            case OP_RST -> {
                if (c != null) {
                    drop(c);
                }
            }
            default -> reset(h, c);
        }
    }

    private void accept(Header h, @Nullable Conn existing) {
        ListenerImpl l = listeners.get(h.dstPort());
        if (existing != null || l == null || l.backlog.size() >= BACKLOG || conns.size() >= MAX_CONNECTIONS) {
            reply(h, OP_RST, 0);
            return;
        }
        Conn c = new Conn(h.dstPort(), h.srcPort());
        c.state = State.CONNECTED;
        c.peerBufAlloc = Integer.toUnsignedLong(h.bufAlloc());
        c.peerFwdCnt = Integer.toUnsignedLong(h.fwdCnt());
        conns.put(c.key(), c);
        queue(packet(c, OP_RESPONSE, 0));
        l.backlog.add(c);
    }

    /** Answers a bad packet with a reset and forgets its connection. */
    private void reset(Header h, @Nullable Conn c) {
        if (c != null) {
            drop(c);
        }
        if (h.op() != OP_RST) {
            reply(h, OP_RST, 0);
        }
    }

    private void drop(Conn c) {
        c.state = State.CLOSED;
        conns.remove(c.key());
    }

    private void reply(Header to, int op, int flags) {
        queue(new Header(HOST_CID, guestCid, to.dstPort(), to.srcPort(), 0, TYPE_STREAM, op, flags, BUF_ALLOC, 0));
    }

    /**
     * Queues a packet for the guest. A guest that sends bad packets or credit requests without
     * posting receive buffers must not grow this without bound: beyond {@link #MAX_CONTROL}
     * queued packets, resets and credit updates (both advisory) are dropped, and a credit update
     * already queued for a connection is not queued twice (it carries the latest count when sent).
     */
    private void queue(Header h) {
        boolean advisory = h.op() == OP_RST || h.op() == OP_CREDIT_UPDATE;
        if (advisory && control.size() >= MAX_CONTROL) {
            return;
        }
        if (h.op() == OP_CREDIT_UPDATE && control.stream().anyMatch(q -> q.op() == OP_CREDIT_UPDATE
                && q.srcPort() == h.srcPort() && q.dstPort() == h.dstPort())) {
            return;
        }
        control.add(h);
    }

    /** Packets waiting for receive buffers (a test hook). */
    int controlBacklog() {
        lock.lock();
        try {
            return control.size();
        } finally {
            lock.unlock();
        }
    }

    private Header packet(Conn c, int op, int flags) {
        return new Header(HOST_CID, guestCid, c.hostPort, c.guestPort, 0, TYPE_STREAM, op, flags, BUF_ALLOC,
                (int) c.fwdCnt);
    }

    @Override
    public int fill(int queue, Virtqueue q, GuestMemory memory) {
        lock.lock();
        try {
            return queue == EVENT ? fillEvents(q, memory) : fillRx(q, memory);
        } finally {
            changed.signalAll();
            lock.unlock();
        }
    }

    private int fillEvents(Virtqueue q, GuestMemory memory) {
        if (!transportResetPending) {
            return 0;
        }
        DescriptorChain chain = q.pop(memory);
        if (chain == null) {
            return 0;
        }
        if (chain.writableLength() < 4) {
            throw new VirtioProtocolException("vsock event buffer shorter than 4 bytes");
        }
        chain.write(memory, 0, new byte[] {EVENT_TRANSPORT_RESET, 0, 0, 0});
        q.addUsed(memory, chain.head(), 4);
        transportResetPending = false;
        return 1;
    }

    private int fillRx(Virtqueue q, GuestMemory memory) {
        int used = 0;
        while (used < q.size()) {
            Header next = control.peek();
            Conn data = next == null ? sendable() : null;
            if (next == null && data == null) {
                break;
            }
            DescriptorChain chain = q.pop(memory);
            if (chain == null) {
                break; // the guest posts more receive buffers and notifies
            }
            if (chain.writableLength() < HEADER) {
                throw new VirtioProtocolException("vsock receive buffer shorter than the " + HEADER + "-byte header");
            }
            byte[] payload = new byte[0];
            if (next != null) {
                control.poll();
                if (next.op() == OP_SHUTDOWN || next.op() == OP_CREDIT_UPDATE || next.op() == OP_RESPONSE) {
                    Conn c = conns.get(key(next.srcPort(), next.dstPort()));
                    if (c != null) {
                        next = packet(c, next.op(), next.flags()); // the latest fwd_cnt
                        c.fwdSent = c.fwdCnt;
                    }
                }
            } else if (data.hasData()) {
                int n = (int) Math.min(Math.min(data.txCount, data.credit()),
                        Math.min(chain.writableLength() - HEADER, MAX_PAYLOAD));
                // A receive buffer with no room past the header still carries a credit update.
                payload = n > 0 ? data.takeTx(n) : payload;
                next = new Header(HOST_CID, guestCid, data.hostPort, data.guestPort, n, TYPE_STREAM,
                        n > 0 ? OP_RW : OP_CREDIT_UPDATE, 0, BUF_ALLOC, (int) data.fwdCnt);
                data.fwdSent = data.fwdCnt;
            } else {
                data.shutdownSent = true;
                next = packet(data, OP_SHUTDOWN, SHUTDOWN_RCV | SHUTDOWN_SEND);
                data.fwdSent = data.fwdCnt;
            }
            chain.write(memory, 0, next.bytes());
            if (payload.length > 0) {
                chain.write(memory, HEADER, payload);
            }
            q.addUsed(memory, chain.head(), HEADER + payload.length);
            used++;
        }
        return used;
    }

    /** A connection with data the guest has credit for, or a pending shutdown; round-robin. */
    private @Nullable Conn sendable() {
        for (Iterator<Conn> it = conns.values().iterator(); it.hasNext(); ) {
            Conn c = it.next();
            if (c.state != State.CONNECTED) {
                continue;
            }
            if (c.hasData() || c.shutdownPending()) {
                it.remove(); // to the back of the line
                conns.put(c.key(), c);
                return c;
            }
        }
        return null;
    }

    @Override
    public void reset() {
        lock.lock();
        try {
            for (Conn c : conns.values()) {
                c.state = State.CLOSED;
            }
            conns.clear();
            control.clear();
            transportResetPending = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void restored() {
        lock.lock();
        try {
            transportResetPending = true; // the guest's connections did not survive; tell it
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            listeners.values().forEach(l -> l.closed = true);
            listeners.clear();
        } finally {
            lock.unlock();
        }
        reset();
    }

    // ---- Vsock (host side) ----

    @Override
    public long guestCid() {
        return guestCid;
    }

    @Override
    public Listener listen(int port) {
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("the VM's vsock device is closed");
            }
            if (listeners.containsKey(port)) {
                throw new IllegalStateException("host vsock port " + Integer.toUnsignedString(port)
                        + " already has a listener");
            }
            ListenerImpl l = new ListenerImpl(port);
            listeners.put(port, l);
            return l;
        } finally {
            lock.unlock();
            deviceEvent.run(); // host-side activity: a pending transport reset reaches the guest first
        }
    }

    @Override
    public Connection connect(int guestPort, Duration timeout) throws IOException {
        Conn c;
        lock.lock();
        try {
            if (closed) {
                throw new IOException("the VM's vsock device is closed");
            }
            if (conns.size() >= MAX_CONNECTIONS) {
                throw new IOException("too many vsock connections (" + MAX_CONNECTIONS + ")");
            }
            int port = freePort(guestPort);
            c = new Conn(port, guestPort);
            conns.put(c.key(), c);
            queue(packet(c, OP_REQUEST, 0));
        } finally {
            lock.unlock();
        }
        deviceEvent.run();
        lock.lock();
        try {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (c.state == State.CONNECTING) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    drop(c);
                    queue(packet(c, OP_RST, 0));
                    throw new SocketTimeoutException("the guest did not answer a connection to vsock port "
                            + Integer.toUnsignedString(guestPort) + " within " + timeout);
                }
                awaitNanos(left);
            }
            if (c.state != State.CONNECTED) {
                throw new ConnectException("the guest refused a connection to vsock port "
                        + Integer.toUnsignedString(guestPort) + " (nothing listens there)");
            }
            return c;
        } finally {
            lock.unlock();
            deviceEvent.run();
        }
    }

    private int freePort(int guestPort) {
        for (int i = 0; i < 65536; i++) {
            int p = nextEphemeral;
            nextEphemeral = nextEphemeral == 0xffff ? FIRST_EPHEMERAL : nextEphemeral + 1;
            if (!listeners.containsKey(p) && !conns.containsKey(key(p, guestPort))) {
                return p;
            }
        }
        throw new IllegalStateException("no free host vsock port");
    }

    private void awaitNanos(long nanos) throws IOException {
        try {
            changed.awaitNanos(Math.min(nanos, TimeUnit.MILLISECONDS.toNanos(100)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting on vsock");
        }
    }

    private static long key(int hostPort, int guestPort) {
        return (Integer.toUnsignedLong(hostPort) << 32) | Integer.toUnsignedLong(guestPort);
    }

    enum State { CONNECTING, CONNECTED, CLOSED }

    private final class ListenerImpl implements Listener {
        final int port;
        final ArrayDeque<Conn> backlog = new ArrayDeque<>();
        boolean closed;

        ListenerImpl(int port) {
            this.port = port;
        }

        @Override
        public int port() {
            return port;
        }

        @Override
        public Connection accept(Duration timeout) throws IOException {
            lock.lock();
            try {
                long deadline = System.nanoTime() + timeout.toNanos();
                while (backlog.isEmpty()) {
                    if (closed) {
                        throw new IOException("vsock listener on port " + Integer.toUnsignedString(port) + " is closed");
                    }
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        throw new SocketTimeoutException("no guest connected to vsock port "
                                + Integer.toUnsignedString(port) + " within " + timeout);
                    }
                    awaitNanos(left);
                }
                return backlog.poll();
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void close() {
            lock.lock();
            try {
                closed = true;
                listeners.remove(port, this);
                for (Conn c : backlog) {
                    drop(c);
                    queue(packet(c, OP_RST, 0));
                }
                backlog.clear();
                changed.signalAll();
            } finally {
                lock.unlock();
            }
            deviceEvent.run();
        }
    }

    private final class Conn implements Connection {
        final int hostPort;
        final int guestPort;
        State state = State.CONNECTING;
        final ArrayDeque<byte[]> rx = new ArrayDeque<>();
        int rxOffset;
        long rxCount;
        long fwdCnt;
        long fwdSent;
        final ArrayDeque<byte[]> tx = new ArrayDeque<>();
        int txOffset;
        long txCount;
        long txCnt;
        long peerBufAlloc;
        long peerFwdCnt;
        boolean peerDoneSending;
        boolean peerDoneReceiving;
        boolean hostClosed;
        boolean shutdownSent;
        private final InputStream in = new In();
        private final OutputStream out = new Out();

        Conn(int hostPort, int guestPort) {
            this.hostPort = hostPort;
            this.guestPort = guestPort;
        }

        long key() {
            return VirtioVsock.key(hostPort, guestPort);
        }

        boolean hasData() {
            return txCount > 0 && credit() > 0 && !peerDoneReceiving;
        }

        boolean shutdownPending() {
            return hostClosed && (txCount == 0 || peerDoneReceiving) && !shutdownSent;
        }

        /** Bytes the guest still has room for (its buf_alloc less what is in flight). */
        long credit() {
            return Math.max(0, peerBufAlloc - ((txCnt - peerFwdCnt) & 0xffff_ffffL));
        }

        byte[] takeTx(int n) {
            byte[] out = new byte[n];
            int done = 0;
            while (done < n) {
                byte[] head = tx.peek();
                int k = Math.min(n - done, head.length - txOffset);
                System.arraycopy(head, txOffset, out, done, k);
                done += k;
                txOffset += k;
                if (txOffset == head.length) {
                    tx.poll();
                    txOffset = 0;
                }
            }
            txCount -= n;
            txCnt += n;
            return out;
        }

        @Override
        public int hostPort() {
            return hostPort;
        }

        @Override
        public int guestPort() {
            return guestPort;
        }

        @Override
        public InputStream input() {
            return in;
        }

        @Override
        public OutputStream output() {
            return out;
        }

        @Override
        public void close() {
            lock.lock();
            try {
                hostClosed = true;
                rx.clear();
                rxCount = 0;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
            deviceEvent.run();
        }

        private final class In extends InputStream {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                Objects.checkFromIndexSize(off, len, b.length);
                if (len == 0) {
                    return 0;
                }
                boolean credit;
                int n = 0;
                lock.lock();
                try {
                    while (rx.isEmpty()) {
                        if (hostClosed) {
                            throw new IOException("vsock connection is closed");
                        }
                        if (state != State.CONNECTED || peerDoneSending) {
                            return -1;
                        }
                        awaitNanos(Long.MAX_VALUE);
                    }
                    while (n < len && !rx.isEmpty()) {
                        byte[] head = rx.peek();
                        int k = Math.min(len - n, head.length - rxOffset);
                        System.arraycopy(head, rxOffset, b, off + n, k);
                        n += k;
                        rxOffset += k;
                        if (rxOffset == head.length) {
                            rx.poll();
                            rxOffset = 0;
                        }
                    }
                    rxCount -= n;
                    fwdCnt += n;
                    // Tell the guest about freed space before it runs dry, not after every read.
                    credit = state == State.CONNECTED && (fwdCnt - fwdSent >= BUF_ALLOC / 4 || rx.isEmpty());
                    if (credit) {
                        queue(packet(Conn.this, OP_CREDIT_UPDATE, 0));
                    }
                } finally {
                    lock.unlock();
                }
                if (credit) {
                    deviceEvent.run();
                }
                return n;
            }

            @Override
            public int available() {
                lock.lock();
                try {
                    return (int) Math.min(rxCount, Integer.MAX_VALUE);
                } finally {
                    lock.unlock();
                }
            }
        }

        private final class Out extends OutputStream {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                Objects.checkFromIndexSize(off, len, b.length);
                int done = 0;
                while (done < len) {
                    lock.lock();
                    try {
                        while (txCount >= TX_LIMIT && writable()) {
                            awaitNanos(Long.MAX_VALUE);
                        }
                        if (!writable()) {
                            throw new IOException("vsock connection to guest port " + Integer.toUnsignedString(guestPort)
                                    + (hostClosed ? " is closed" : " was reset or shut down by the guest"));
                        }
                        int k = (int) Math.min(len - done, TX_LIMIT - txCount);
                        tx.add(Arrays.copyOfRange(b, off + done, off + done + k));
                        txCount += k;
                        done += k;
                    } finally {
                        lock.unlock();
                    }
                    deviceEvent.run();
                }
            }

            private boolean writable() {
                return state == State.CONNECTED && !hostClosed && !peerDoneReceiving;
            }
        }
    }
}
