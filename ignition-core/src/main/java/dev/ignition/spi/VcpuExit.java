package dev.ignition.spi;

import java.util.Objects;

/** Why {@link Vcpu#run()} returned. */
public sealed interface VcpuExit {
    /**
     * How a {@link Read} exit is answered: implemented by the vCPU that produced the exit, one
     * instance per vCPU, so that a read exit costs no allocation beyond its record. The vCPU
     * checks by identity that {@code exit} is the read it is waiting for, so completing a stale
     * exit, or one exit twice, fails with {@link IllegalStateException} instead of writing
     * a value where no instruction expects one.
     */
    @FunctionalInterface
    interface ReadCompletion {
        void complete(Read exit, long value);
    }

    /**
     * The guest reads {@code size} bytes from a device: the VMM answers with
     * {@link #complete(long)} exactly once, on the vCPU's thread, before the next
     * {@link Vcpu#run()}.
     */
    sealed interface Read extends VcpuExit {
        int size();

        ReadCompletion completion();

        /** Supplies the value read (its low {@link #size()} bytes count). */
        default void complete(long value) {
            completion().complete(this, value);
        }
    }

    /** The guest wrote {@code value} ({@code size} bytes) to I/O port {@code port}. */
    record PortOut(int port, int size, long value) implements VcpuExit {}

    /** The guest reads {@code size} bytes from I/O port {@code port}; answer with {@link #complete}. */
    record PortIn(int port, int size, ReadCompletion completion) implements Read {
        public PortIn {
            Objects.requireNonNull(completion, "completion");
        }

        @Override
        public String toString() {
            return "PortIn[port=0x" + Integer.toHexString(port) + ", size=" + size + "]";
        }
    }

    /** The guest wrote outside RAM. */
    record MmioWrite(long address, int size, long value) implements VcpuExit {}

    /** The guest reads outside RAM; answer with {@link #complete}. */
    record MmioRead(long address, int size, ReadCompletion completion) implements Read {
        public MmioRead {
            Objects.requireNonNull(completion, "completion");
        }

        @Override
        public String toString() {
            return "MmioRead[address=0x" + Long.toHexString(address) + ", size=" + size + "]";
        }
    }

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
