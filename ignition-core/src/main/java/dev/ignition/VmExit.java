package dev.ignition;

import org.jspecify.annotations.Nullable;

/** Why a VM stopped running. */
public sealed interface VmExit {
    /** The guest asked to exit with a code (the exit device, see {@code dev.ignition.guest}). */
    record GuestExit(int code) implements VmExit {}

    /** The guest shut down or triple-faulted; {@code reason} says which. */
    record Shutdown(String reason) implements VmExit {}

    /** The guest asked for a reset, which Ignition treats as a stop. */
    record Reset() implements VmExit {}

    /** The host stopped the VM ({@link VirtualMachine#close()} while it ran). */
    record Stopped() implements VmExit {}

    /** The hypervisor or a device failed; the VM cannot continue. */
    record Failed(String reason, @Nullable Throwable cause) implements VmExit {}
}
