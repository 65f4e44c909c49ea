package dev.ignition;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * How a VM's virtio-net device reaches the world ({@link VirtualMachine.Builder#network}).
 *
 * <ul>
 *   <li>{@link #userMode()}: user-mode networking through <a href="https://passt.top">passt</a>,
 *       unprivileged. Ignition starts one {@code passt} process per VM and stops it when the VM
 *       closes. The guest gets its address by DHCP; connections it opens leave through the
 *       host's sockets, and its default gateway address reaches the host itself (passt maps it
 *       to the host's loopback). {@link UserMode#forwardTcp} makes a guest TCP port reachable on
 *       the host's loopback.</li>
 *   <li>{@link #tap(String)}: a Linux TAP interface; the host configures it (addresses, bridge,
 *       routes). Needs {@code CAP_NET_ADMIN}, or a persistent TAP created beforehand for the
 *       user ({@code ip tuntap add dev tap0 mode tap user $USER}).</li>
 * </ul>
 */
public sealed interface Network permits Network.UserMode, Network.Tap {
    /** User-mode networking (passt) without port forwards. */
    static UserMode userMode() {
        return new UserMode(List.of());
    }

    /** The Linux TAP interface {@code name} (1-15 bytes), created if it does not exist. */
    static Tap tap(String name) {
        return new Tap(name);
    }

    /**
     * A TCP port forward: connections to {@code 127.0.0.1:hostPort} reach {@code guestPort} in
     * the guest.
     *
     * @param hostPort 1-65535, or 0 to let Ignition pick a free port (read it back with
     *     {@link NetworkAttachment#hostPort(int)})
     * @param guestPort 1-65535
     */
    record PortForward(int hostPort, int guestPort) {}

    /**
     * User-mode networking through passt.
     *
     * @param forwards TCP port forwards from the host to the guest
     */
    record UserMode(List<PortForward> forwards) implements Network {
        public UserMode {
            forwards = List.copyOf(forwards);
        }

        /**
         * Adds a TCP forward from {@code 127.0.0.1:hostPort} to the guest's {@code guestPort};
         * {@code hostPort} 0 picks a free port. Checked by {@link VirtualMachine.Builder#build()}.
         */
        public UserMode forwardTcp(int hostPort, int guestPort) {
            List<PortForward> all = new ArrayList<>(forwards);
            all.add(new PortForward(hostPort, guestPort));
            return new UserMode(all);
        }
    }

    /**
     * A Linux TAP interface: the guest's frames appear on it and what the host sends through it
     * reaches the guest.
     *
     * @param name the interface name, 1-15 bytes, e.g. {@code tap0}
     */
    record Tap(String name) implements Network {
        public Tap {
            Objects.requireNonNull(name, "name");
        }
    }
}
