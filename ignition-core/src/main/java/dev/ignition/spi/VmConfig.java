package dev.ignition.spi;

import dev.ignition.memory.GuestMemory;
import java.util.Objects;

/**
 * What a backend needs to create a VM.
 *
 * @param memory guest RAM, already mapped by the caller
 * @param vcpus number of vCPUs the VM will create
 * @param trackDirtyPages register memory with the hypervisor's dirty logging
 */
public record VmConfig(GuestMemory memory, int vcpus, boolean trackDirtyPages) {
    public VmConfig {
        Objects.requireNonNull(memory, "memory");
        if (vcpus < 1) {
            throw new IllegalArgumentException("vcpus must be at least 1");
        }
    }
}
