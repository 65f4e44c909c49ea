package dev.ignition.hvf.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.internal.state.CorruptStateException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** Snapshot state blobs round-trip, and corrupted ones fail only with CorruptStateException. */
class HvfStatePropertiesTest {
    @Provide
    Arbitrary<HvfState.Vcpu> vcpus() {
        Arbitrary<long[]> x = Arbitraries.longs().array(long[].class).ofSize(31);
        Arbitrary<byte[][]> q = Arbitraries.bytes().array(byte[].class).ofSize(16).array(byte[][].class).ofSize(32);
        Arbitrary<Map<Integer, Long>> sys = Arbitraries.subsetOf(
                Arm64Regs.SNAPSHOT_SYS_REGS.stream().map(Arm64Regs.SysReg::id).toList())
                .map(ids -> toMap(List.copyOf(ids)));
        Arbitrary<Map<Integer, Long>> icc = Arbitraries.subsetOf(
                Arm64Regs.SNAPSHOT_ICC_REGS.stream().map(Arm64Regs.SysReg::id).toList())
                .map(ids -> toMap(List.copyOf(ids)));
        Arbitrary<Map<Integer, Long>> redist = Arbitraries.subsetOf(GicRegs.REDISTRIBUTOR)
                .map(ids -> toMap(List.copyOf(ids)));
        return Combinators.combine(x, Arbitraries.longs(), q, sys, icc, redist,
                        Arbitraries.of(HvfState.Power.class), Arbitraries.longs())
                .as((xs, pc, qs, s, i, r, p, e) -> new HvfState.Vcpu(xs, pc, pc ^ 1, pc ^ 2, pc ^ 3, s, qs, i, r, p, e, ~e));
    }

    private static Map<Integer, Long> toMap(List<Integer> ids) {
        Map<Integer, Long> m = new LinkedHashMap<>();
        for (int id : ids) {
            m.put(id, (long) id * 0x9E37_79B9L);
        }
        return m;
    }

    @Property(tries = 300)
    void vcpuStateRoundTrips(@ForAll("vcpus") HvfState.Vcpu v) {
        assertThat(HvfState.Vcpu.decode(v.encode())).isEqualTo(v);
    }

    @Property(tries = 1000)
    void corruptedVcpuStateIsRejectedCleanly(@ForAll("vcpus") HvfState.Vcpu v, @ForAll int position,
                                             @ForAll byte value, @ForAll boolean truncate) {
        byte[] blob = v.encode();
        int at = Math.floorMod(position, blob.length);
        byte[] bad = truncate ? Arrays.copyOf(blob, at) : blob.clone();
        if (!truncate) {
            bad[at] = value;
        }
        try {
            HvfState.Vcpu.decode(bad);
        } catch (CorruptStateException expected) {
            assertThat(expected.getMessage()).isNotBlank();
        }
    }

    @Property(tries = 500)
    void vmStateRoundTripsAndRejectsTruncation(@ForAll byte[] gic, @ForAll long counter, @ForAll int cut) {
        Map<Integer, Long> dist = toMap(GicRegs.DISTRIBUTOR.subList(0, Math.floorMod(counter, 5)));
        HvfState.Vm vm = new HvfState.Vm(counter, 1 + Math.floorMod(cut, 8), gic, dist);
        byte[] blob = vm.encode();
        assertThat(HvfState.Vm.decode(blob)).isEqualTo(vm);
        int at = Math.floorMod(cut, blob.length);
        try {
            HvfState.Vm.decode(Arrays.copyOf(blob, at));
            throw new AssertionError("a truncated VM state decoded");
        } catch (CorruptStateException expected) {
            assertThat(expected.getMessage()).isNotBlank();
        }
    }
}
