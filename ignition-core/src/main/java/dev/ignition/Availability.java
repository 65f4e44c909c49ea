package dev.ignition;

import java.util.Objects;

/**
 * Whether a backend can run VMs on this host, and if not, why — in words a user can act on
 * ("/dev/kvm does not exist: load the kvm module or enable virtualization").
 *
 * @param backend the backend's name, e.g. {@code kvm}
 * @param available true when VMs can be created
 * @param reason why not, or a short description of what was found when available
 */
public record Availability(String backend, boolean available, String reason) {
    public Availability {
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(reason, "reason");
    }

    public static Availability available(String backend, String detail) {
        return new Availability(backend, true, detail);
    }

    public static Availability unavailable(String backend, String reason) {
        return new Availability(backend, false, reason);
    }
}
