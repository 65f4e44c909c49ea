package dev.ignition.kvm.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.spi.VcpuExit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;

/**
 * Whatever the kernel leaves in {@code kvm_run}, decoding yields an exit (never an exception), and
 * every read it hands out completes inside the mapping, element by element, until the instruction
 * is done.
 */
class KvmExitPropertiesTest {
    // Biased towards plausible values, so that well-formed exits are common among the hostile ones.

    @Provide
    Arbitrary<Integer> reasons() {
        return Arbitraries.frequencyOf(
                Tuple.of(4, Arbitraries.just(KvmIoctl.EXIT_IO)),
                Tuple.of(2, Arbitraries.just(KvmIoctl.EXIT_MMIO)),
                Tuple.of(2, Arbitraries.of(KvmIoctl.EXIT_HLT, KvmIoctl.EXIT_SHUTDOWN, KvmIoctl.EXIT_SYSTEM_EVENT,
                        KvmIoctl.EXIT_INTERNAL_ERROR, KvmIoctl.EXIT_FAIL_ENTRY, KvmIoctl.EXIT_INTR)),
                Tuple.of(1, Arbitraries.integers()));
    }

    @Provide
    Arbitrary<Byte> sizes() {
        return Arbitraries.frequencyOf(
                Tuple.of(3, Arbitraries.of((byte) 1, (byte) 2, (byte) 4)),
                Tuple.of(1, Arbitraries.bytes()));
    }

    @Provide
    Arbitrary<Long> offsets() {
        return Arbitraries.frequencyOf(
                Tuple.of(3, Arbitraries.just(FakeKvm.PIO_DATA)),
                Tuple.of(3, Arbitraries.longs().between(-8, FakeKvm.RUN_SIZE + 8)),
                Tuple.of(1, Arbitraries.longs()));
    }

    @Provide
    Arbitrary<Integer> counts() {
        return Arbitraries.frequencyOf(
                Tuple.of(4, Arbitraries.integers().between(1, 64)),
                Tuple.of(1, Arbitraries.integers().between(-2, 0)),
                Tuple.of(1, Arbitraries.integers()));
    }

    @Provide
    Arbitrary<Integer> mmioLengths() {
        return Arbitraries.frequencyOf(
                Tuple.of(3, Arbitraries.integers().between(0, 9)),
                Tuple.of(1, Arbitraries.integers()));
    }

    @Property(tries = 2000)
    void anyKvmRunContentDecodesToAnExitThatCompletesInBounds(
            @ForAll("reasons") int reason, @ForAll byte direction, @ForAll("sizes") byte size, @ForAll short port,
            @ForAll("counts") int count, @ForAll("offsets") long dataOffset, @ForAll("mmioLengths") int mmioLen,
            @ForAll boolean mmioWrite, @ForAll long value) {
        FakeKvm kvm = new FakeKvm();
        try (KvmVcpu cpu = new KvmVcpu(kvm, 0, null)) {
            kvm.script(FakeKvm.FIRST_VCPU_FD, run -> {
                run.set(JAVA_INT, 8, reason);
                if (reason == KvmIoctl.EXIT_MMIO) {
                    run.set(JAVA_LONG, 0x20, value);
                    run.set(JAVA_LONG, 0x28, value);
                    run.set(JAVA_INT, 0x30, mmioLen);
                    run.set(JAVA_BYTE, 0x34, (byte) (mmioWrite ? 1 : 0));
                } else {
                    run.set(JAVA_BYTE, 0x20, direction);
                    run.set(JAVA_BYTE, 0x21, size);
                    run.set(JAVA_SHORT, 0x22, port);
                    run.set(JAVA_INT, 0x24, count);
                    run.set(JAVA_LONG, 0x28, dataOffset);
                }
                return 0;
            });
            VcpuExit exit = cpu.run();
            int elements = 1;
            while (true) {
                assertThat(exit).isNotNull();
                if (exit instanceof VcpuExit.Read r) {
                    assertThat(r.size()).isBetween(1, 8);
                    r.complete(value);
                }
                if (!cpu.midInstruction()) {
                    break;
                }
                exit = cpu.run();
                elements++;
            }
            boolean delivered = reason == KvmIoctl.EXIT_IO && !(exit instanceof VcpuExit.Failed);
            if (delivered) {
                assertThat(elements).isEqualTo(count);
            }
            Statistics.label("exit").collect(delivered ? "port I/O delivered" : exit.getClass().getSimpleName());
        }
    }
}
