package dev.ignition.spi;

/** Why {@link Vcpu#run()} returned. */
public sealed interface VcpuExit {
    /** The guest wrote {@code value} ({@code size} bytes) to I/O port {@code port}. */
    record PortOut(int port, int size, long value) implements VcpuExit {}

    /** The guest reads {@code size} bytes from I/O port {@code port}; answer with completeRead. */
    record PortIn(int port, int size) implements VcpuExit {}

    /** The guest wrote outside RAM. */
    record MmioWrite(long address, int size, long value) implements VcpuExit {}

    /** The guest reads outside RAM; answer with completeRead. */
    record MmioRead(long address, int size) implements VcpuExit {}

    /** The guest halted with no interrupt able to wake it. */
    record Halted() implements VcpuExit {}

    /** {@link Vcpu#requestExit()} took effect (or a signal interrupted the run). */
    record Interrupted() implements VcpuExit {}

    /** The guest shut the machine down or triple-faulted. */
    record Shutdown(String reason) implements VcpuExit {}

    /** The guest asked for a reset. */
    record Reset() implements VcpuExit {}

    /** The hypervisor could not continue the guest. */
    record Failed(String reason) implements VcpuExit {}
}
