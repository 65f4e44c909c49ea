package dev.ignition.internal.virtio;

import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.GuestMemoryException;
import dev.ignition.internal.state.StateReader;
import dev.ignition.internal.state.StateWriter;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A split virtqueue (virtio 1.x, section 2.7) as the device sees it: the descriptor table, the
 * driver's available ring and the device's used ring, all in guest memory.
 *
 * <p>Nothing read from guest memory is trusted. {@link #pop} checks the available index against
 * the queue size, every descriptor index, every buffer against guest RAM, the order of readable
 * and writable buffers, and stops a chain longer than the queue (a loop). Violations throw
 * {@link VirtioProtocolException}. Indirect descriptors and event-index suppression are not
 * offered, so a descriptor that asks for either is a violation too.
 *
 * <p>Not thread-safe: the transport serialises access.
 */
public final class Virtqueue {
    /** The largest queue a split ring can have. */
    public static final int MAX_SIZE = 32768;
    static final int DESC_SIZE = 16;
    static final int F_NEXT = 1;
    static final int F_WRITE = 2;
    static final int F_INDIRECT = 4;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final int maxSize;
    private int size;
    private boolean ready;
    private long descTable;
    private long availRing;
    private long usedRing;
    private int lastAvail;
    private int usedIdx;

    /** @param maxSize the size offered to the driver (QueueNumMax): a power of two up to {@link #MAX_SIZE} */
    public Virtqueue(int maxSize) {
        if (maxSize < 1 || maxSize > MAX_SIZE || Integer.bitCount(maxSize) != 1) {
            throw new IllegalArgumentException("queue size must be a power of two in [1, " + MAX_SIZE + "]: " + maxSize);
        }
        this.maxSize = maxSize;
        reset();
    }

    public int maxSize() {
        return maxSize;
    }

    public int size() {
        return size;
    }

    public boolean ready() {
        return ready;
    }

    public int lastAvail() {
        return lastAvail;
    }

    public int usedIndex() {
        return usedIdx;
    }

    /** Back to the state after device reset: not ready, no rings, indices 0. */
    public void reset() {
        size = maxSize;
        ready = false;
        descTable = 0;
        availRing = 0;
        usedRing = 0;
        lastAvail = 0;
        usedIdx = 0;
    }

    void setSize(int size) {
        this.size = size;
    }

    void setDescTable(long address) {
        descTable = address;
    }

    void setAvailRing(long address) {
        availRing = address;
    }

    void setUsedRing(long address) {
        usedRing = address;
    }

    long descTable() {
        return descTable;
    }

    long availRing() {
        return availRing;
    }

    long usedRing() {
        return usedRing;
    }

    /** Marks the queue live after checking what the driver configured. */
    void enable(GuestMemory memory) {
        check(memory);
        ready = true;
    }

    void disable() {
        ready = false;
    }

    /** Checks size, alignment and that the three areas lie in guest RAM. */
    private void check(GuestMemory memory) {
        check(memory, maxSize, size, descTable, availRing, usedRing);
    }

    private static void check(GuestMemory memory, int maxSize, int size, long descTable, long availRing, long usedRing) {
        if (size < 1 || size > maxSize || Integer.bitCount(size) != 1) {
            throw new VirtioProtocolException("queue size " + size + " is not a power of two in [1, " + maxSize + "]");
        }
        checkArea(memory, "descriptor table", descTable, 16, (long) DESC_SIZE * size);
        checkArea(memory, "available ring", availRing, 2, 6 + 2L * size);
        checkArea(memory, "used ring", usedRing, 4, 6 + 8L * size);
    }

    private static void checkArea(GuestMemory memory, String what, long address, int alignment, long length) {
        if (address % alignment != 0) {
            throw new VirtioProtocolException(what + " at 0x" + Long.toHexString(address) + " is not " + alignment
                    + "-byte aligned");
        }
        if (!memory.contains(address, length)) {
            throw new VirtioProtocolException(what + " [0x" + Long.toHexString(address) + ", +" + length
                    + ") is not inside guest RAM");
        }
    }

    /**
     * The next chain the driver made available, or {@code null} if there is none.
     *
     * @throws VirtioProtocolException if the ring or the chain breaks the rules
     */
    public @Nullable DescriptorChain pop(GuestMemory memory) {
        if (!ready) {
            return null;
        }
        try {
            int availIdx = u16(memory, availRing + 2);
            int pending = (availIdx - lastAvail) & 0xffff;
            if (pending == 0) {
                return null;
            }
            if (pending > size) {
                throw new VirtioProtocolException("the available index moved " + pending + " entries ahead of the device,"
                        + " more than the queue size " + size);
            }
            VarHandle.acquireFence(); // ring entries are read after the index that published them
            int head = u16(memory, availRing + 4 + 2L * (lastAvail % size));
            lastAvail = (lastAvail + 1) & 0xffff;
            return walk(memory, head);
        } catch (GuestMemoryException e) {
            throw new VirtioProtocolException(e.getMessage());
        }
    }

    private DescriptorChain walk(GuestMemory memory, int head) {
        List<DescriptorChain.Buffer> readable = new ArrayList<>();
        List<DescriptorChain.Buffer> writable = new ArrayList<>();
        int index = head;
        for (int n = 0; ; n++) {
            if (n >= size) {
                throw new VirtioProtocolException("descriptor chain from head " + head + " is longer than the queue ("
                        + size + "): a loop");
            }
            if (index >= size) {
                throw new VirtioProtocolException("descriptor index " + index + " is outside the queue of " + size);
            }
            long d = descTable + (long) DESC_SIZE * index;
            long address = memory.slice(d, DESC_SIZE).get(U64, 0);
            long length = Integer.toUnsignedLong(memory.slice(d + 8, 4).get(U32, 0));
            int flags = u16(memory, d + 12);
            int next = u16(memory, d + 14);
            if ((flags & F_INDIRECT) != 0) {
                throw new VirtioProtocolException("descriptor " + index + " is indirect, which was not negotiated");
            }
            if (address < 0 || !memory.contains(address, length)) {
                throw new VirtioProtocolException("descriptor " + index + " buffer [0x" + Long.toHexString(address) + ", +"
                        + length + ") is not inside guest RAM");
            }
            DescriptorChain.Buffer b = new DescriptorChain.Buffer(address, length);
            if ((flags & F_WRITE) != 0) {
                writable.add(b);
            } else if (!writable.isEmpty()) {
                throw new VirtioProtocolException("descriptor " + index + " is device-readable after a device-writable one");
            } else {
                readable.add(b);
            }
            if ((flags & F_NEXT) == 0) {
                return new DescriptorChain(head, readable, writable);
            }
            index = next;
        }
    }

    /** Returns chain {@code head} to the driver with {@code written} bytes written into it. */
    public void addUsed(GuestMemory memory, int head, int written) {
        try {
            long elem = usedRing + 4 + 8L * (usedIdx % size);
            var s = memory.slice(elem, 8);
            s.set(U32, 0, head);
            s.set(U32, 4, written);
            memory.markDirty(elem, 8);
            usedIdx = (usedIdx + 1) & 0xffff;
            VarHandle.releaseFence(); // the element is visible before the index that publishes it
            memory.slice(usedRing + 2, 2).set(U16, 0, (short) usedIdx);
            memory.markDirty(usedRing + 2, 2);
        } catch (GuestMemoryException e) {
            throw new VirtioProtocolException(e.getMessage());
        }
    }

    private static int u16(GuestMemory memory, long address) {
        return memory.slice(address, 2).get(U16, 0) & 0xffff;
    }

    /**
     * A queue's snapshot state (record {@code VQUE}, version 1, nested in the transport's): what
     * the driver configured and the device's two ring positions. A queue that is not ready keeps
     * whatever the driver wrote so far, checked only when it becomes ready.
     *
     * @param lastAvail the next available-ring slot the device will read (u16)
     * @param usedIdx the device's used index (u16)
     */
    public record State(int size, boolean ready, long descTable, long availRing, long usedRing, int lastAvail,
            int usedIdx) {
        static final String TAG = "VQUE";
        static final int VERSION = 1;
        /** A nested record's smallest encoding: type byte and header. */
        static final int MIN_BYTES = 1 + 10;

        void write(StateWriter w) {
            w.beginRecord(TAG, VERSION).u32(size).bool(ready).u64(descTable).u64(availRing).u64(usedRing)
                    .u16(lastAvail).u16(usedIdx).end();
        }

        static State read(StateReader parent, String field) {
            StateReader r = parent.record(field, TAG, VERSION);
            State s = new State(r.u32("size"), r.bool("ready"), r.u64("descTable"), r.u64("availRing"),
                    r.u64("usedRing"), r.u16("lastAvail"), r.u16("usedIdx"));
            r.end();
            return s;
        }

        /**
         * Checks that this state fits a queue of {@code maxSize} in {@code memory}: a ready queue's
         * size and rings as {@link Virtqueue#enable} would, and the ring positions' range.
         *
         * @throws VirtioProtocolException naming what does not fit
         */
        void check(GuestMemory memory, int maxSize) {
            if ((lastAvail & ~0xffff) != 0 || (usedIdx & ~0xffff) != 0) {
                throw new VirtioProtocolException("ring index out of range (lastAvail " + lastAvail + ", usedIdx "
                        + usedIdx + ")");
            }
            if (ready) {
                Virtqueue.check(memory, maxSize, size, descTable, availRing, usedRing);
            }
        }
    }

    State saveTyped() {
        return new State(size, ready, descTable, availRing, usedRing, lastAvail, usedIdx);
    }

    /** Takes over {@code s}, which {@link State#check} accepted. */
    void restoreTyped(State s) {
        size = s.size();
        ready = s.ready();
        descTable = s.descTable();
        availRing = s.availRing();
        usedRing = s.usedRing();
        lastAvail = s.lastAvail();
        usedIdx = s.usedIdx();
    }
}
