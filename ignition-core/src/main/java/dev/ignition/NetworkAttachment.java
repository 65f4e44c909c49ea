package dev.ignition;

import java.util.List;

/**
 * A running VM's network device ({@link VirtualMachine#network()}): its MAC address, the backend
 * and the TCP forwards with the host ports actually bound.
 *
 * @param macAddress the guest's MAC address, e.g. {@code 52:54:00:12:34:56}
 * @param backend what carries the frames, e.g. {@code passt (/tmp/ignition-passt…/passt.socket)}
 * @param forwards the TCP forwards, host port 0 replaced by the port that was picked
 */
public record NetworkAttachment(String macAddress, String backend, List<Network.PortForward> forwards) {
    public NetworkAttachment {
        forwards = List.copyOf(forwards);
    }

    /**
     * The host port (on {@code 127.0.0.1}) forwarded to {@code guestPort}.
     *
     * @throws IllegalArgumentException if {@code guestPort} is not forwarded
     */
    public int hostPort(int guestPort) {
        for (Network.PortForward f : forwards) {
            if (f.guestPort() == guestPort) {
                return f.hostPort();
            }
        }
        throw new IllegalArgumentException("guest port " + guestPort + " is not forwarded; forwarded guest ports: "
                + forwards.stream().map(f -> String.valueOf(f.guestPort())).toList());
    }
}
