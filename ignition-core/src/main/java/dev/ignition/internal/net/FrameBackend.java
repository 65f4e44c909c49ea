package dev.ignition.internal.net;

import dev.ignition.Network;
import java.util.List;

/**
 * Where a virtio-net device's Ethernet frames go: user-mode networking (passt, gvproxy) or a
 * TAP interface. Frames are whole Ethernet frames without preamble or FCS.
 *
 * <p>A backend delivers the frames it receives to the {@link Receiver} given to {@link #start},
 * from a thread of its own; {@link #send} is called from vCPU threads.
 */
public interface FrameBackend extends AutoCloseable {
    /** Takes frames for the guest; may block to push back when the guest has no receive buffers. */
    @FunctionalInterface
    interface Receiver {
        /** @return false once the receiver is closed and wants no more frames */
        boolean frame(byte[] frame) throws InterruptedException;
    }

    /** A short description for messages and logs, e.g. {@code passt (/run/..../passt.socket)}. */
    String describe();

    /**
     * The TCP ports forwarded from the host to the guest, with the host ports actually bound
     * (port 0 resolved); empty for backends without forwarding, such as TAP.
     */
    default List<Network.PortForward> forwards() {
        return List.of();
    }

    /** Starts delivering frames to {@code receiver}; called once. */
    void start(Receiver receiver);

    /** Sends one frame from the guest; a frame the backend cannot take now is dropped, as on a wire. */
    void send(byte[] frame);

    /** Stops the backend and releases its process, sockets or file descriptors; idempotent. */
    @Override
    void close();
}
