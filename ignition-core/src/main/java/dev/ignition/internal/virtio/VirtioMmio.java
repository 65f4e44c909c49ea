package dev.ignition.internal.virtio;

import dev.ignition.device.DeviceContext;
import dev.ignition.device.InterruptLine;
import dev.ignition.device.MmioDevice;
import dev.ignition.internal.device.SnapshotParticipant;
import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.Persistent;
import dev.ignition.internal.state.StateReader;
import dev.ignition.internal.state.StateWriter;
import dev.ignition.memory.GuestMemory;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The virtio-mmio transport, version 2 ("modern", virtio 1.x section 4.2.2), in front of a
 * {@link VirtioDeviceModel}.
 *
 * <p>Requests are served on the vCPU thread that writes QueueNotify. A driver that breaks the
 * rules (bad queue configuration, a descriptor outside guest RAM, a loop...) moves the device to
 * {@code DEVICE_NEEDS_RESET} with a configuration-change interrupt; from then on notifications
 * are ignored until the driver resets the device by writing 0 to Status. Nothing the guest does
 * throws out of {@link #read} or {@link #write}.
 *
 * <p>The interrupt line is held high while InterruptStatus is non-zero and pulsed low-high for
 * each new interrupt, which works for both edge-triggered (x86 IOAPIC pins declared through the
 * ISA bus) and level-triggered (arm64 GIC SPIs) wiring.
 */
public final class VirtioMmio implements MmioDevice, Persistent<VirtioMmio.State>, SnapshotParticipant {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioMmio.class);

    /** The smallest register window: 0x100 bytes of registers, then the configuration space. */
    public static final long MIN_WINDOW = 0x200;
    static final int MAGIC = 0x7472_6976; // "virt"
    static final int VERSION = 2;
    static final int VENDOR = 0x5447_4e49; // "INGT", little-endian "IGNT"

    // Register offsets.
    static final int MAGIC_VALUE = 0x000;
    static final int VERSION_REG = 0x004;
    static final int DEVICE_ID = 0x008;
    static final int VENDOR_ID = 0x00c;
    static final int DEVICE_FEATURES = 0x010;
    static final int DEVICE_FEATURES_SEL = 0x014;
    static final int DRIVER_FEATURES = 0x020;
    static final int DRIVER_FEATURES_SEL = 0x024;
    static final int QUEUE_SEL = 0x030;
    static final int QUEUE_NUM_MAX = 0x034;
    static final int QUEUE_NUM = 0x038;
    static final int QUEUE_READY = 0x044;
    static final int QUEUE_NOTIFY = 0x050;
    static final int INTERRUPT_STATUS = 0x060;
    static final int INTERRUPT_ACK = 0x064;
    static final int STATUS = 0x070;
    static final int QUEUE_DESC_LOW = 0x080;
    static final int QUEUE_DESC_HIGH = 0x084;
    static final int QUEUE_DRIVER_LOW = 0x090;
    static final int QUEUE_DRIVER_HIGH = 0x094;
    static final int QUEUE_DEVICE_LOW = 0x0a0;
    static final int QUEUE_DEVICE_HIGH = 0x0a4;
    static final int SHM_LEN_LOW = 0x0b0;
    static final int SHM_BASE_HIGH = 0x0bc;
    static final int CONFIG_GENERATION = 0x0fc;
    static final int CONFIG = 0x100;

    // Status bits.
    public static final int ACKNOWLEDGE = 1;
    public static final int DRIVER = 2;
    public static final int DRIVER_OK = 4;
    public static final int FEATURES_OK = 8;
    public static final int DEVICE_NEEDS_RESET = 64;
    public static final int FAILED = 128;

    /** InterruptStatus bits. */
    public static final int INT_USED_BUFFER = 1;
    public static final int INT_CONFIG_CHANGE = 2;

    public static final long F_VERSION_1 = 1L << 32;

    private final long base;
    private final long window;
    private final int irq;
    private final VirtioDeviceModel model;
    private final Virtqueue[] queues;
    private final long offered;
    private @Nullable GuestMemory memory;
    private InterruptLine line = high -> {};

    private int status;
    private int deviceFeaturesSel;
    private int driverFeaturesSel;
    private long driverFeatures;
    private int queueSel;
    private int interruptStatus;
    private int configGeneration;
    private boolean lineHigh;
    private @Nullable String failure;

    /**
     * @param base guest-physical address of the register window
     * @param window its length, at least {@link #MIN_WINDOW}
     * @param irq the interrupt line (x86 GSI, arm64 SPI)
     */
    public VirtioMmio(long base, long window, int irq, VirtioDeviceModel model) {
        if (window < MIN_WINDOW) {
            throw new IllegalArgumentException("virtio-mmio window of " + window + " bytes is below " + MIN_WINDOW);
        }
        this.base = base;
        this.window = window;
        this.irq = irq;
        this.model = model;
        this.queues = new Virtqueue[model.queueCount()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new Virtqueue(model.queueMaxSize(i));
        }
        this.offered = model.features() | F_VERSION_1;
        model.bind(this::deviceEvent);
        model.bindConfigChange(this::configChanged);
    }

    @Override
    public String name() {
        return model.kind() + "@0x" + Long.toHexString(base);
    }

    @Override
    public long baseAddress() {
        return base;
    }

    @Override
    public long length() {
        return window;
    }

    public int irq() {
        return irq;
    }

    public VirtioDeviceModel model() {
        return model;
    }

    /** The Status register as the driver sees it. */
    public synchronized int status() {
        return status;
    }

    /** Why the device needs a reset, or {@code null} if it does not. */
    public synchronized @Nullable String failure() {
        return failure;
    }

    @Override
    public void attach(DeviceContext context) {
        this.memory = context.memory();
        this.line = context.interruptLine(irq);
    }

    @Override
    public synchronized long read(long offset, int size) {
        if (offset >= CONFIG) {
            return readConfig(offset - CONFIG, size);
        }
        if (size != 4 || (offset & 3) != 0) {
            return 0; // registers are 32-bit wide; the spec leaves other accesses undefined
        }
        return switch ((int) offset) {
            case MAGIC_VALUE -> MAGIC;
            case VERSION_REG -> VERSION;
            case DEVICE_ID -> model.deviceId();
            case VENDOR_ID -> VENDOR;
            case DEVICE_FEATURES -> deviceFeaturesSel == 0 ? offered & 0xffff_ffffL
                    : deviceFeaturesSel == 1 ? offered >>> 32 : 0;
            case QUEUE_NUM_MAX -> selected() == null ? 0 : selected().maxSize();
            case QUEUE_READY -> selected() != null && selected().ready() ? 1 : 0;
            case INTERRUPT_STATUS -> interruptStatus;
            case STATUS -> status;
            case CONFIG_GENERATION -> configGeneration;
            default -> offset >= SHM_LEN_LOW && offset <= SHM_BASE_HIGH ? 0xffff_ffffL : 0; // no shared memory
        };
    }

    @Override
    public synchronized void write(long offset, int size, long value) {
        if (offset >= CONFIG) {
            return; // no device here has writable configuration
        }
        if (size != 4 || (offset & 3) != 0) {
            return;
        }
        int v = (int) value;
        switch ((int) offset) {
            case DEVICE_FEATURES_SEL -> deviceFeaturesSel = v;
            case DRIVER_FEATURES_SEL -> driverFeaturesSel = v;
            case DRIVER_FEATURES -> {
                if ((status & FEATURES_OK) == 0 && (driverFeaturesSel == 0 || driverFeaturesSel == 1)) {
                    int shift = 32 * driverFeaturesSel;
                    driverFeatures = (driverFeatures & ~(0xffff_ffffL << shift)) | (Integer.toUnsignedLong(v) << shift);
                }
            }
            case QUEUE_SEL -> queueSel = v;
            case QUEUE_NUM -> configureQueue(q -> q.setSize(v));
            case QUEUE_DESC_LOW -> configureQueue(q -> q.setDescTable(low(q.descTable(), v)));
            case QUEUE_DESC_HIGH -> configureQueue(q -> q.setDescTable(high(q.descTable(), v)));
            case QUEUE_DRIVER_LOW -> configureQueue(q -> q.setAvailRing(low(q.availRing(), v)));
            case QUEUE_DRIVER_HIGH -> configureQueue(q -> q.setAvailRing(high(q.availRing(), v)));
            case QUEUE_DEVICE_LOW -> configureQueue(q -> q.setUsedRing(low(q.usedRing(), v)));
            case QUEUE_DEVICE_HIGH -> configureQueue(q -> q.setUsedRing(high(q.usedRing(), v)));
            case QUEUE_READY -> setQueueReady(v);
            case QUEUE_NOTIFY -> notifyQueue(v);
            case INTERRUPT_ACK -> {
                interruptStatus &= ~v;
                updateLine(false);
            }
            case STATUS -> setStatus(v);
            default -> { } // read-only or unknown registers: writes are ignored
        }
    }

    private @Nullable Virtqueue selected() {
        return queueSel >= 0 && queueSel < queues.length ? queues[queueSel] : null;
    }

    private void configureQueue(Consumer<Virtqueue> change) {
        Virtqueue q = selected();
        // A live queue's layout must not change under the device (virtio 1.x 4.2.2.3).
        if (q != null && !q.ready() && (status & DEVICE_NEEDS_RESET) == 0) {
            change.accept(q);
        }
    }

    private static long low(long old, int v) {
        return (old & 0xffff_ffff_0000_0000L) | Integer.toUnsignedLong(v);
    }

    private static long high(long old, int v) {
        return (old & 0xffff_ffffL) | ((long) v << 32);
    }

    private void setQueueReady(int v) {
        Virtqueue q = selected();
        if (q == null || (status & DEVICE_NEEDS_RESET) != 0) {
            return;
        }
        if (v == 0) {
            q.disable();
            return;
        }
        try {
            q.enable(mem());
        } catch (VirtioProtocolException e) {
            needsReset("queue " + queueSel + ": " + e.getMessage());
        }
    }

    private void setStatus(int v) {
        if (v == 0) {
            reset();
            return;
        }
        int next = v & (ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK | FAILED);
        if ((next & FEATURES_OK) != 0 && (status & FEATURES_OK) == 0) {
            // The driver re-reads Status: FEATURES_OK stays clear if we cannot accept its features.
            if ((driverFeatures & ~offered) != 0 || (driverFeatures & F_VERSION_1) == 0) {
                next &= ~FEATURES_OK;
            }
        }
        if ((next & DRIVER_OK) != 0 && (next & FEATURES_OK) == 0) {
            next &= ~DRIVER_OK; // the driver cannot be running without agreed features
        }
        status = next | (status & DEVICE_NEEDS_RESET);
    }

    /** Device reset: everything back to its initial state, the interrupt line low. */
    private void reset() {
        status = 0;
        deviceFeaturesSel = 0;
        driverFeaturesSel = 0;
        driverFeatures = 0;
        queueSel = 0;
        interruptStatus = 0;
        failure = null;
        for (Virtqueue q : queues) {
            q.reset();
        }
        model.reset();
        updateLine(false);
    }

    private void notifyQueue(int index) {
        if (!live() || index < 0 || index >= queues.length) {
            return;
        }
        Virtqueue q = queues[index];
        if (!q.ready()) {
            return;
        }
        GuestMemory m = mem();
        boolean used = false;
        try {
            if (!model.deviceFills(index)) {
                // At most one queue's worth per notification: a guest that keeps publishing from another
                // vCPU cannot hold this one here forever; it notifies again for what it adds later.
                for (int n = 0; n < q.size(); n++) {
                    DescriptorChain chain = q.pop(m);
                    if (chain == null) {
                        break;
                    }
                    int written = model.handle(index, chain, m);
                    q.addUsed(m, chain.head(), written);
                    used = true;
                }
            }
            used |= fillAll(m);
        } catch (RuntimeException e) {
            needsReset("queue " + index + ": " + (e instanceof VirtioProtocolException ? e.getMessage() : e));
            return;
        }
        if (used) {
            interrupt(INT_USED_BUFFER);
        }
    }

    /** The driver is running and the device is not broken. */
    private boolean live() {
        return (status & DRIVER_OK) != 0 && (status & DEVICE_NEEDS_RESET) == 0;
    }

    /** Lets the device fill its own queues; true if it used a buffer. */
    private boolean fillAll(GuestMemory m) {
        boolean used = false;
        for (int i = 0; i < queues.length; i++) {
            if (model.deviceFills(i) && queues[i].ready() && model.fill(i, queues[i], m) > 0) {
                used = true;
            }
        }
        return used;
    }

    /** Host-side news for the device (data to deliver, a connection request): fill its queues now. */
    public synchronized void deviceEvent() {
        if (!live()) {
            return;
        }
        try {
            if (fillAll(mem())) {
                interrupt(INT_USED_BUFFER);
            }
        } catch (RuntimeException e) {
            needsReset("device event: " + (e instanceof VirtioProtocolException ? e.getMessage() : e));
        }
    }

    /**
     * The device's configuration space changed (virtio 1.x 2.5.1 and 4.2.2.1): ConfigGeneration
     * moves on, so a driver reading several fields notices, and a running driver gets a
     * configuration-change interrupt. Returns whether the driver was told.
     */
    public synchronized boolean configChanged() {
        configGeneration++;
        if (!live()) {
            return false;
        }
        interrupt(INT_CONFIG_CHANGE);
        return true;
    }

    /**
     * Pulses the line again if an interrupt is outstanding (InterruptStatus non-zero); called when
     * a restored VM starts. The edge the guest saw before the snapshot may not be in the restored
     * interrupt controller: an irqfd's edge is injected by a kernel worker shortly after the
     * eventfd write, so it can miss the controller's capture; and a restored pin left high by
     * {@code KVM_IRQ_LINE} swallows the next edge. A spurious interrupt is harmless: the driver
     * reads InterruptStatus.
     */
    public synchronized void repulseInterrupt() {
        if (interruptStatus != 0) {
            updateLine(true);
        }
    }

    /** Serialised with requests: none is in flight while the model flushes. */
    @Override
    public synchronized void flushForSnapshot() {
        model.flushForSnapshot();
    }

    /**
     * A restored device may have news for the guest (vsock: its transport was reset), delivered
     * now and not at the guest's next notification, which may be a new connection the reset would
     * kill; and an outstanding interrupt is pulsed again ({@link #repulseInterrupt()}).
     */
    @Override
    public void afterRestore() {
        repulseInterrupt();
        deviceEvent();
    }

    private void needsReset(String why) {
        if (failure == null) {
            failure = why;
            LOG.warn("{}: the guest driver broke the virtio rules, device needs reset: {}", name(), why);
        }
        status |= DEVICE_NEEDS_RESET;
        if ((status & DRIVER_OK) != 0) {
            interrupt(INT_CONFIG_CHANGE);
        }
    }

    private void interrupt(int bit) {
        interruptStatus |= bit;
        updateLine(true);
    }

    private void updateLine(boolean newInterrupt) {
        boolean high = interruptStatus != 0;
        if (high && newInterrupt && lineHigh) {
            line.set(false); // a fresh edge for edge-triggered pins
            line.set(true);
        } else if (high != lineHigh) {
            line.set(high);
        }
        lineHigh = high;
    }

    private long readConfig(long offset, int size) {
        byte[] config = model.config();
        if (offset < 0 || offset + size > config.length) {
            return 0;
        }
        long v = 0;
        for (int i = size - 1; i >= 0; i--) {
            v = (v << 8) | (config[(int) offset + i] & 0xff);
        }
        model.configRead((int) offset, size);
        return v;
    }

    private GuestMemory mem() {
        GuestMemory m = memory;
        if (m == null) {
            throw new IllegalStateException(name() + " is not attached to a VM");
        }
        return m;
    }

    /** Status bits a device can hold; a state with others was not written by this transport. */
    private static final int STATUS_BITS = ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK | DEVICE_NEEDS_RESET | FAILED;
    /** More queues than any device model has: a bound for hostile states. */
    static final int MAX_QUEUES = 256;

    /**
     * The transport's snapshot state (record {@code VMIO}, version 1): its registers, the line
     * level and each queue. The device models keep no state of their own across a snapshot: block
     * and entropy serve each request synchronously, the socket device tells the guest its transport
     * was reset ({@link VirtioDeviceModel#restored}), and the network device's frames in flight
     * live on the host side, which a snapshot does not hold. A model that needs state gets a field
     * here in a new version of this record.
     *
     * @param status device status bits
     * @param interruptStatus InterruptStatus (used-buffer and configuration-change bits)
     * @param driverFeatures the features the driver accepted, a subset of those offered
     * @param queues one state per queue, in queue order
     */
    public record State(int status, int deviceFeaturesSel, int driverFeaturesSel, int queueSel, int interruptStatus,
            long driverFeatures, int configGeneration, boolean lineHigh, List<Virtqueue.State> queues) {
        static final String TAG = "VMIO";
        static final int VERSION = 1;

        public State {
            queues = List.copyOf(queues);
        }

        public byte[] encode() {
            StateWriter w = new StateWriter(64 + 56 * queues.size()).begin(TAG, VERSION).u8(status)
                    .u32(deviceFeaturesSel).u32(driverFeaturesSel).u32(queueSel).u8(interruptStatus).u64(driverFeatures)
                    .u32(configGeneration).bool(lineHigh).list(queues.size());
            for (Virtqueue.State q : queues) {
                q.write(w);
            }
            return w.end().toByteArray();
        }

        /** @throws CorruptStateException naming {@code context} and the field */
        public static State decode(byte[] data, String context) {
            StateReader r = StateReader.open(data, context, TAG, VERSION);
            int status = r.u8("status");
            if ((status & ~STATUS_BITS) != 0) {
                throw r.invalid("status", "unknown status bits 0x" + Integer.toHexString(status & ~STATUS_BITS));
            }
            int dfs = r.u32("deviceFeaturesSel");
            int drfs = r.u32("driverFeaturesSel");
            int qs = r.u32("queueSel");
            int isr = r.u8("interruptStatus", INT_USED_BUFFER | INT_CONFIG_CHANGE);
            long features = r.u64("driverFeatures");
            int gen = r.u32("configGeneration");
            boolean high = r.bool("lineHigh");
            int n = r.list("queues", MAX_QUEUES, Virtqueue.State.MIN_BYTES);
            List<Virtqueue.State> queues = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                queues.add(Virtqueue.State.read(r, "queues[" + i + "]"));
            }
            r.end();
            return new State(status, dfs, drfs, qs, isr, features, gen, high, queues);
        }
    }

    @Override
    public synchronized State saveTyped() {
        List<Virtqueue.State> qs = new ArrayList<>(queues.length);
        for (Virtqueue q : queues) {
            qs.add(q.saveTyped());
        }
        return new State(status, deviceFeaturesSel, driverFeaturesSel, queueSel, interruptStatus, driverFeatures,
                configGeneration, lineHigh, qs);
    }

    /**
     * Takes over {@code s} after checking it against this device and its guest memory (queue count,
     * offered features, every ready queue's rings); on a mismatch nothing changes.
     */
    @Override
    public synchronized void restoreTyped(State s) {
        String ctx = "device '" + name() + "': ";
        if ((s.status() & ~STATUS_BITS) != 0 || (s.interruptStatus() & ~(INT_USED_BUFFER | INT_CONFIG_CHANGE)) != 0) {
            throw new CorruptStateException(ctx + "state has unknown status or interrupt bits (status 0x"
                    + Integer.toHexString(s.status()) + ", interrupt 0x" + Integer.toHexString(s.interruptStatus())
                    + ")", State.TAG, null);
        }
        if (s.queues().size() != queues.length) {
            throw new CorruptStateException(ctx + "state is for a device with " + s.queues().size()
                    + " queues, this one has " + queues.length, State.TAG, "queues");
        }
        if ((s.driverFeatures() & ~offered) != 0) {
            throw new CorruptStateException(ctx + "state has features 0x" + Long.toHexString(s.driverFeatures())
                    + " this device does not offer", State.TAG, "driverFeatures");
        }
        GuestMemory m = mem();
        for (int i = 0; i < queues.length; i++) {
            try {
                s.queues().get(i).check(m, queues[i].maxSize());
            } catch (VirtioProtocolException e) {
                throw new CorruptStateException(ctx + "state has an invalid queue " + i + ": " + e.getMessage(),
                        Virtqueue.State.TAG, "queues[" + i + "]");
            }
        }
        for (int i = 0; i < queues.length; i++) {
            queues[i].restoreTyped(s.queues().get(i));
        }
        status = s.status();
        deviceFeaturesSel = s.deviceFeaturesSel();
        driverFeaturesSel = s.driverFeaturesSel();
        queueSel = s.queueSel();
        interruptStatus = s.interruptStatus();
        driverFeatures = s.driverFeatures();
        configGeneration = s.configGeneration();
        lineHigh = s.lineHigh();
        failure = (status & DEVICE_NEEDS_RESET) != 0 ? "restored in DEVICE_NEEDS_RESET" : null;
        model.restored();
    }

    @Override
    public byte[] saveState() {
        return saveTyped().encode();
    }

    @Override
    public void restoreState(byte[] state) {
        restoreTyped(State.decode(state, "device '" + name() + "'"));
    }

    @Override
    public void close() {
        model.close();
    }
}
