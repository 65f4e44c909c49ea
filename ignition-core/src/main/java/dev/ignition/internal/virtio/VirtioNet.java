package dev.ignition.internal.virtio;

import dev.ignition.internal.net.FrameBackend;
import dev.ignition.memory.GuestMemory;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * virtio-net (virtio 1.x section 5.1): one receive queue (0, the device fills it) and one
 * transmit queue (1), the MAC address and the link status in the configuration space, Ethernet
 * frames to and from a {@link FrameBackend}.
 *
 * <p>No offloads are offered (no checksum, GSO or mergeable buffers), so every packet is one
 * 12-byte {@code virtio_net_hdr} followed by one frame of at most {@link #MAX_FRAME} bytes.
 * Guest input is checked: a transmit chain shorter than the header or with device-writable
 * buffers is a protocol violation (the device then needs a reset); a frame shorter than an
 * Ethernet header, longer than {@link #MAX_FRAME} or asking for GSO is dropped and counted, as a
 * NIC drops a bad frame. A frame for the guest that does not fit the receive buffer the guest
 * posted is dropped too (Linux counts such a buffer as a length error).
 *
 * <p>Frames from the backend wait in a queue of at most {@link #RX_QUEUE_FRAMES}; while it is
 * full, the backend's thread waits, which pushes back on the sender instead of losing frames.
 *
 * <p>After a restore the link goes down, then up again (VIRTIO_NET_F_STATUS): the guest's
 * connections and neighbour entries belong to a backend that is gone (a restored or forked VM has
 * a passt of its own), and the link state is what tells the guest so. The device reports the link
 * down with a configuration-change interrupt; once the driver has read that status, it reports it
 * up with another. Linux then flushes its ARP entries and redoes IPv6 address configuration on
 * the link, and the frames it sends let the new backend learn the guest's MAC address (passt
 * needs it to forward a connection into a guest that has sent nothing yet).
 *
 * <p>Locking: the transport's monitor, then {@link #lock}. The backend's thread takes only
 * {@link #lock} and calls the transport's device-event callback after releasing it.
 */
public final class VirtioNet implements VirtioDeviceModel {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioNet.class);
    public static final int DEVICE_ID = 1;
    static final int RX = 0;
    static final int TX = 1;
    /** {@code struct virtio_net_hdr} with {@code num_buffers}, as VIRTIO_F_VERSION_1 has it. */
    static final int HEADER = 12;
    /** An Ethernet header: the shortest frame passed on. */
    static final int MIN_FRAME = 14;
    /** 1500 bytes of payload, the Ethernet header and one VLAN tag. */
    public static final int MAX_FRAME = 1518;
    static final int RX_QUEUE_FRAMES = 256;
    static final long F_MAC = 1L << 5;
    static final long F_STATUS = 1L << 16;
    static final int S_LINK_UP = 1;
    private static final int GSO_NONE = 0;

    private final byte[] mac;
    private final FrameBackend backend;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<byte[]> rx = new ArrayDeque<>();
    private final AtomicLong txDropped = new AtomicLong();
    private final AtomicLong rxDropped = new AtomicLong();
    private boolean closed;
    private boolean started;
    private Runnable deviceEvent = () -> {};
    private BooleanSupplier configChanged = () -> false;
    /** The link status the driver reads; guarded by the transport's monitor. */
    private boolean linkUp = true;
    private final AtomicLong linkResets = new AtomicLong();

    /**
     * @param mac the guest's 6-byte MAC address
     * @param backend where frames go; started once the device is bound to its transport, closed with it
     */
    public VirtioNet(byte[] mac, FrameBackend backend) {
        if (mac.length != 6) {
            throw new IllegalArgumentException("a MAC address has 6 bytes, not " + mac.length);
        }
        this.mac = mac.clone();
        this.backend = backend;
    }

    public FrameBackend backend() {
        return backend;
    }

    /** Guest frames dropped: too short, too long or asking for an offload that was not offered. */
    public long txDropped() {
        return txDropped.get();
    }

    /** Frames for the guest dropped because they did not fit the receive buffer or arrived during a reset. */
    public long rxDropped() {
        return rxDropped.get();
    }

    /** How many times a restore took the link down and up again. */
    public long linkResets() {
        return linkResets.get();
    }

    @Override
    public int deviceId() {
        return DEVICE_ID;
    }

    @Override
    public String kind() {
        return "virtio-net";
    }

    @Override
    public long features() {
        return F_MAC | F_STATUS;
    }

    @Override
    public int queueCount() {
        return 2;
    }

    @Override
    public byte[] config() {
        byte[] c = new byte[8];
        System.arraycopy(mac, 0, c, 0, 6);
        c[6] = (byte) (linkUp ? S_LINK_UP : 0); // status, little-endian u16
        return c;
    }

    /** Offset of {@code status} in {@code struct virtio_net_config}. */
    private static final int STATUS_OFFSET = 6;

    @Override
    public void bindConfigChange(BooleanSupplier configChanged) {
        this.configChanged = configChanged;
    }

    @Override
    public void restored() {
        linkUp = false;
        if (configChanged.getAsBoolean()) {
            linkResets.incrementAndGet();
        } else {
            linkUp = true; // no driver running to tell: nothing to reset
        }
    }

    @Override
    public void configRead(int offset, int size) {
        // The driver has seen the link down: bring it up. (A driver that rereads a field until
        // ConfigGeneration holds still sees only "up"; Linux reads status in one access.)
        if (!linkUp && offset <= STATUS_OFFSET && offset + size > STATUS_OFFSET) {
            linkUp = true;
            configChanged.getAsBoolean();
        }
    }

    @Override
    public boolean deviceFills(int queue) {
        return queue == RX;
    }

    @Override
    public void bind(Runnable deviceEvent) {
        this.deviceEvent = deviceEvent;
        lock.lock();
        try {
            if (started || closed) {
                return;
            }
            started = true;
        } finally {
            lock.unlock();
        }
        backend.start(this::deliver);
    }

    /** A frame for the guest, from the backend's thread: waits while the queue is full. */
    boolean deliver(byte[] frame) throws InterruptedException {
        lock.lock();
        try {
            while (!closed && rx.size() >= RX_QUEUE_FRAMES) {
                changed.await();
            }
            if (closed) {
                return false;
            }
            rx.add(frame);
        } finally {
            lock.unlock();
        }
        deviceEvent.run();
        return true;
    }

    @Override
    public int handle(int queue, DescriptorChain chain, GuestMemory memory) {
        if (queue != TX) {
            return 0;
        }
        if (!chain.writable().isEmpty()) {
            throw new VirtioProtocolException("virtio-net transmit chain has device-writable buffers");
        }
        long total = chain.readableLength();
        if (total < HEADER) {
            throw new VirtioProtocolException("virtio-net transmit chain of " + total + " bytes is shorter than the "
                    + HEADER + "-byte header");
        }
        long frameLength = total - HEADER;
        if (frameLength < MIN_FRAME || frameLength > MAX_FRAME) {
            drop(txDropped, "guest frame of " + frameLength + " bytes is outside [" + MIN_FRAME + ", " + MAX_FRAME + "]");
            return 0;
        }
        byte[] header = new byte[HEADER];
        chain.read(memory, 0, header);
        if (header[1] != GSO_NONE) {
            drop(txDropped, "guest frame asks for GSO type " + header[1] + ", which was not offered");
            return 0;
        }
        byte[] frame = new byte[(int) frameLength];
        chain.read(memory, HEADER, frame);
        backend.send(frame);
        return 0;
    }

    @Override
    public int fill(int queue, Virtqueue q, GuestMemory memory) {
        int used = 0;
        lock.lock();
        try {
            while (used < q.size() && !rx.isEmpty()) {
                DescriptorChain chain = q.pop(memory);
                if (chain == null) {
                    break; // the guest posts more receive buffers and notifies
                }
                byte[] frame = rx.poll();
                if (!chain.readable().isEmpty()) {
                    throw new VirtioProtocolException("virtio-net receive chain has device-readable buffers");
                }
                if (chain.writableLength() < HEADER + frame.length) {
                    drop(rxDropped, "frame of " + frame.length + " bytes does not fit a receive buffer of "
                            + chain.writableLength());
                    q.addUsed(memory, chain.head(), 0);
                } else {
                    byte[] header = new byte[HEADER];
                    header[10] = 1; // num_buffers
                    chain.write(memory, 0, header);
                    chain.write(memory, HEADER, frame);
                    q.addUsed(memory, chain.head(), HEADER + frame.length);
                }
                used++;
            }
            return used;
        } finally {
            changed.signalAll();
            lock.unlock();
        }
    }

    private void drop(AtomicLong counter, String why) {
        counter.incrementAndGet();
        LOG.debug("virtio-net: dropped: {}", why);
    }

    @Override
    public void reset() {
        linkUp = true;
        lock.lock();
        try {
            rxDropped.addAndGet(rx.size());
            rx.clear();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            rx.clear();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        backend.close();
    }
}
