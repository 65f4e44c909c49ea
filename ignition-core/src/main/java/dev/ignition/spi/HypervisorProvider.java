package dev.ignition.spi;

import dev.ignition.Availability;

/**
 * Entry point of a backend, registered with {@link java.util.ServiceLoader}
 * ({@code provides dev.ignition.spi.HypervisorProvider with ...}).
 */
public interface HypervisorProvider {
    /** Short name users select it by, e.g. {@code kvm} or {@code hvf}. */
    String name();

    /** The guest architecture this backend runs. */
    Architecture architecture();

    /**
     * Probes the host: cheap, never throws, and explains an unavailable backend in words a user
     * can act on.
     */
    Availability availability();

    /**
     * Creates a VM over {@code config.memory()}. The memory stays owned by the caller.
     *
     * @throws dev.ignition.NativeCallException when the hypervisor refuses
     */
    HypervisorVm createVm(VmConfig config);
}
