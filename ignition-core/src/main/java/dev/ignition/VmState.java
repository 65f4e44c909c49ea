package dev.ignition;

/** Lifecycle of a {@link VirtualMachine}. */
public enum VmState {
    /** Built, not started: no vCPU has run. */
    CREATED,
    /** vCPUs are running the guest. */
    RUNNING,
    /** vCPUs are parked outside the hypervisor; the guest does not advance. */
    PAUSED,
    /** The guest stopped by itself (exit request, shutdown, reset) or failed; see the VM's exit. */
    EXITED,
    /** {@link VirtualMachine#close()} released every resource. */
    CLOSED
}
