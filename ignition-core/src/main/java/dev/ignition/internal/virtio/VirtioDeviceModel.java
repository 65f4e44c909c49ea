package dev.ignition.internal.virtio;

import dev.ignition.memory.GuestMemory;
import java.util.function.BooleanSupplier;

/**
 * What a virtio device type adds to the transport: its id, features, configuration space and
 * how it serves a request. Calls are serialised by the transport.
 */
public interface VirtioDeviceModel extends AutoCloseable {
    /** The virtio device id (2 = block, 4 = entropy, 19 = socket). */
    int deviceId();

    /** A short name such as {@code virtio-blk}. */
    String kind();

    /** Device-type feature bits offered (the transport adds {@code VIRTIO_F_VERSION_1}). */
    long features();

    /** How many virtqueues the device has. */
    int queueCount();

    /** The size offered for queue {@code index}. */
    default int queueMaxSize(int index) {
        return 256;
    }

    /** The device-specific configuration space as it is now (little-endian). */
    byte[] config();

    /**
     * Serves one request taken from queue {@code queue} and returns how many bytes it wrote into
     * the chain's writable buffers.
     *
     * @throws VirtioProtocolException if the request breaks the device type's rules
     */
    int handle(int queue, DescriptorChain chain, GuestMemory memory);

    /**
     * Whether the device fills queue {@code queue} on its own schedule (receive and event queues)
     * instead of answering each chain as it arrives. The transport then calls {@link #fill}
     * instead of {@link #handle} for it.
     */
    default boolean deviceFills(int queue) {
        return false;
    }

    /**
     * Puts what the device has to say into chains of queue {@code queue}, taking at most
     * {@code queue.size()} of them; returns how many it used.
     *
     * @throws VirtioProtocolException if a chain breaks the device type's rules
     */
    default int fill(int queue, Virtqueue q, GuestMemory memory) {
        return 0;
    }

    /**
     * Hands the device a callback that makes the transport call {@link #fill} on the device-filled
     * queues now (from any thread; never call it while holding a lock {@link #fill} takes).
     */
    default void bind(Runnable deviceEvent) {}

    /**
     * Makes the device's backing storage durable for a snapshot (the VM is paused, no request in
     * flight). Most devices keep everything in their saved state and do nothing.
     */
    default void flushForSnapshot() {}

    /**
     * Hands the device a callback that tells the driver the configuration space changed: the
     * transport moves ConfigGeneration on and, if the driver is running, raises a
     * configuration-change interrupt. It returns whether the driver was told (false before
     * DRIVER_OK or while the device needs a reset). Call it with no lock of the device's own held,
     * or from a callback of the transport ({@link #restored}, {@link #configRead}).
     */
    default void bindConfigChange(BooleanSupplier configChanged) {}

    /**
     * The driver read {@code size} bytes of the configuration space at {@code offset} (after
     * {@link #config} supplied them); a device whose configuration changes once the driver has
     * seen a value learns it here.
     */
    default void configRead(int offset, int size) {}

    /** Called after the transport's state was restored from a snapshot. */
    default void restored() {}

    /** Called on device reset. */
    default void reset() {}

    @Override
    default void close() {}
}
