package dev.ignition.spi;

import dev.ignition.Availability;
import dev.ignition.NativeCallException;
import java.util.ServiceLoader;

/**
 * Entry point of a backend, registered with {@link ServiceLoader}
 * ({@code provides HypervisorProvider with ...}).
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
     * @throws NativeCallException when the hypervisor refuses
     */
    HypervisorVm createVm(VmConfig config);
}
