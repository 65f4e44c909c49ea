package dev.ignition.internal.virtio;

import static dev.ignition.internal.virtio.VirtioMmio.*;

import dev.ignition.device.DeviceContext;
import dev.ignition.device.InterruptLine;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A test "guest driver": lays out split virtqueues in a {@link GuestMemory} and drives a
 * {@link VirtioMmio} through its registers exactly as Linux's virtio_mmio driver does. It also
 * writes raw descriptors and ring fields, so tests can play a hostile guest.
 */
final class VirtioDriver implements AutoCloseable {
    static final long RAM_BASE = 0;
    static final long RAM_SIZE = 8L << 20;
    /** Rings of queue q live at RINGS + q * 64 KiB; buffers from BUFFERS on. */
    static final long RINGS = 0x10000;
    static final long BUFFERS = 0x100000;
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    final GuestMemory memory;
    final VirtioMmio device;
    /** Every level the device drove its interrupt line to, in order. */
    final List<Boolean> lineLevels = new ArrayList<>();
    private final int[] sizes = new int[8];
    private final int[] availIdx = new int[8];
    private final int[] nextDesc = new int[8];
    private long nextBuffer = BUFFERS;

    VirtioDriver(VirtioDeviceModel model) {
        this(model, newMemory());
    }

    VirtioDriver(VirtioDeviceModel model, GuestMemory memory) {
        this.memory = memory;
        this.device = new VirtioMmio(0xd000_0000L, 0x1000, 7, model);
        InterruptLine line = lineLevels::add;
        device.attach(new DeviceContext() {
            @Override
            public GuestMemory memory() {
                return memory;
            }

            @Override
            public InterruptLine interruptLine(int irq) {
                return line;
            }

            @Override
            public long nanosSinceStart() {
                return 0;
            }
        });
    }

    static GuestMemory newMemory() {
        Arena arena = Arena.ofShared();
        return new GuestMemory(List.of(new MemoryRegion(RAM_BASE, arena.allocate(RAM_SIZE, 4096))), 4096, arena::close);
    }

    int reg(int offset) {
        return (int) device.read(offset, 4);
    }

    void reg(int offset, long value) {
        device.write(offset, 4, value & 0xffff_ffffL);
    }

    long deviceFeatures() {
        reg(DEVICE_FEATURES_SEL, 0);
        long lo = Integer.toUnsignedLong(reg(DEVICE_FEATURES));
        reg(DEVICE_FEATURES_SEL, 1);
        return lo | ((long) reg(DEVICE_FEATURES) << 32);
    }

    /** Status handshake up to FEATURES_OK with {@code features}; returns the Status read back. */
    int negotiate(long features) {
        reg(STATUS, 0);
        reg(STATUS, ACKNOWLEDGE);
        reg(STATUS, ACKNOWLEDGE | DRIVER);
        reg(DRIVER_FEATURES_SEL, 0);
        reg(DRIVER_FEATURES, features);
        reg(DRIVER_FEATURES_SEL, 1);
        reg(DRIVER_FEATURES, features >>> 32);
        reg(STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        return reg(STATUS);
    }

    /** The whole bring-up Linux does: negotiate everything offered, set up each queue at {@code size}, DRIVER_OK. */
    VirtioDriver start(int queues, int size) {
        int st = negotiate(deviceFeatures());
        if ((st & FEATURES_OK) == 0) {
            throw new AssertionError("device refused its own features");
        }
        for (int q = 0; q < queues; q++) {
            setupQueue(q, size, ring(q), ring(q) + 16L * size, ring(q) + 0x8000);
        }
        reg(STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        return this;
    }

    static long ring(int q) {
        return RINGS + q * 0x10000L;
    }

    void setupQueue(int q, int size, long desc, long avail, long used) {
        reg(QUEUE_SEL, q);
        reg(QUEUE_NUM, size);
        reg(QUEUE_DESC_LOW, desc);
        reg(QUEUE_DESC_HIGH, desc >>> 32);
        reg(QUEUE_DRIVER_LOW, avail);
        reg(QUEUE_DRIVER_HIGH, avail >>> 32);
        reg(QUEUE_DEVICE_LOW, used);
        reg(QUEUE_DEVICE_HIGH, used >>> 32);
        reg(QUEUE_READY, 1);
        sizes[q] = size;
        availIdx[q] = 0;
        nextDesc[q] = 0;
    }

    long desc(int q) {
        return ring(q);
    }

    long avail(int q) {
        return ring(q) + 16L * sizes[q];
    }

    long used(int q) {
        return ring(q) + 0x8000;
    }

    /** A buffer for a chain: guest address, length, whether the device writes it. */
    record Buf(long address, long length, boolean writable) {}

    /** Allocates {@code length} bytes of guest memory (16-byte aligned) filled with {@code content} or zeros. */
    long alloc(int length, byte... content) {
        long a = nextBuffer;
        nextBuffer = (nextBuffer + length + 15) & -16L;
        if (nextBuffer > RAM_SIZE) {
            nextBuffer = BUFFERS;
            a = nextBuffer;
            nextBuffer = (nextBuffer + length + 15) & -16L;
        }
        memory.slice(a, length).fill((byte) 0);
        if (content.length > 0) {
            memory.write(a, content);
        }
        return a;
    }

    /** Writes descriptor {@code index} of queue {@code q} as given: a hostile guest's tool. */
    void rawDesc(int q, int index, long address, long length, int flags, int next) {
        long d = desc(q) + 16L * index;
        var s = memory.slice(d, 16);
        s.set(U64, 0, address);
        s.set(U32, 8, (int) length);
        s.set(U16, 12, (short) flags);
        s.set(U16, 14, (short) next);
    }

    /** Publishes {@code head} in the available ring (without notifying). */
    void publish(int q, int head) {
        int slot = availIdx[q] % sizes[q];
        memory.slice(avail(q) + 4 + 2L * slot, 2).set(U16, 0, (short) head);
        availIdx[q] = (availIdx[q] + 1) & 0xffff;
        setAvailIdx(q, availIdx[q]);
    }

    void setAvailIdx(int q, int idx) {
        memory.slice(avail(q) + 2, 2).set(U16, 0, (short) idx);
    }

    /** Writes a chain of {@code bufs} into free descriptors, publishes it and notifies; returns its head. */
    int submit(int q, Buf... bufs) {
        int head = nextDesc[q];
        for (int i = 0; i < bufs.length; i++) {
            int idx = (head + i) % sizes[q];
            boolean last = i == bufs.length - 1;
            rawDesc(q, idx, bufs[i].address(), bufs[i].length(),
                    (bufs[i].writable() ? Virtqueue.F_WRITE : 0) | (last ? 0 : Virtqueue.F_NEXT), (idx + 1) % sizes[q]);
        }
        nextDesc[q] = (head + bufs.length) % sizes[q];
        publish(q, head);
        notifyQueue(q);
        return head;
    }

    void notifyQueue(int q) {
        reg(QUEUE_NOTIFY, q);
    }

    int usedIdx(int q) {
        return memory.slice(used(q) + 2, 2).get(U16, 0) & 0xffff;
    }

    /** Used element {@code n} (counting from 0 since the queue started): {id, len}. */
    long[] usedElem(int q, int n) {
        var s = memory.slice(used(q) + 4 + 8L * (n % sizes[q]), 8);
        return new long[] {Integer.toUnsignedLong(s.get(U32, 0)), Integer.toUnsignedLong(s.get(U32, 4))};
    }

    boolean needsReset() {
        return (reg(STATUS) & DEVICE_NEEDS_RESET) != 0;
    }

    @Override
    public void close() {
        device.close();
        memory.close();
    }
}
