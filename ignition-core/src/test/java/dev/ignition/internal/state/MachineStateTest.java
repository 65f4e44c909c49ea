package dev.ignition.internal.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
import org.junit.jupiter.api.Test;

class MachineStateTest {
    private static MachineState sample() {
        Map<String, byte[]> devices = new LinkedHashMap<>();
        devices.put("com1", new byte[] {1, 2});
        devices.put("virtio-blk@0xd0000000", new byte[300]);
        return new MachineState("kvm", 64L << 20, List.of(new byte[] {9}, new byte[4096]), new byte[] {7, 7},
                devices);
    }

    @Test
    void roundTripsKeepingDeviceOrder() {
        MachineState m = sample();
        MachineState back = MachineState.decode(m.encode(), "snapshot 's'", 254);
        assertThat(back).isEqualTo(m);
        assertThat(back.vcpuCount()).isEqualTo(2);
        assertThat(back.devices().keySet()).containsExactly("com1", "virtio-blk@0xd0000000");
    }

    @Test
    void hostileStatesAreRefusedNamingTheProblem() {
        byte[] b = sample().encode();
        assertThatThrownBy(() -> MachineState.decode(b, "snapshot 's'", 1))
                .isInstanceOf(CorruptStateException.class)
                .hasMessageContaining("snapshot 's': record 'IGVM' v2, field 'vcpus': holds 2 elements, at most 1");
        byte[] noVcpu = new MachineState("kvm", 4096, List.of(), new byte[0], Map.of()).encode();
        assertThatThrownBy(() -> MachineState.decode(noVcpu, "s", 8)).hasMessageContaining("at least one vCPU");
        byte[] noMemory = new MachineState("kvm", 0, List.of(new byte[1]), new byte[0], Map.of()).encode();
        assertThatThrownBy(() -> MachineState.decode(noMemory, "s", 8)).hasMessageContaining("memoryBytes");
        byte[] dup = new StateWriter().begin(MachineState.TAG, MachineState.FORMAT_VERSION).string("kvm").u64(4096)
                .list(1).bytes(new byte[1]).bytes(new byte[0]).list(2).string("a").bytes(new byte[1]).string("a")
                .bytes(new byte[1]).end().toByteArray();
        assertThatThrownBy(() -> MachineState.decode(dup, "s", 8)).hasMessageContaining("device 'a' appears twice");
        byte[] v3 = b.clone();
        v3[4] = 3;
        assertThatThrownBy(() -> MachineState.decode(v3, "s", 8)).isInstanceOf(UnsupportedStateVersionException.class)
                .hasMessage("s: record 'IGVM' has version 3; this build reads version 2");
        for (int n = 0; n < b.length; n++) {
            byte[] cut = Arrays.copyOf(b, n);
            assertThatThrownBy(() -> MachineState.decode(cut, "s", 8)).isInstanceOf(CorruptStateException.class);
        }
    }

    @Provide
    Arbitrary<MachineState> states() {
        Arbitrary<byte[]> blob = Arbitraries.bytes().array(byte[].class).ofMaxSize(64);
        return Combinators.combine(Arbitraries.strings().ofMinLength(1).ofMaxLength(12),
                        Arbitraries.longs().greaterOrEqual(1), blob.list().ofMinSize(1).ofMaxSize(4), blob,
                        Arbitraries.maps(Arbitraries.strings().ofMaxLength(20), blob).ofMaxSize(5))
                .as(MachineState::new);
    }

    @Property(tries = 200)
    void anyStateRoundTrips(@ForAll("states") MachineState m) {
        assertThat(MachineState.decode(m.encode(), "s", 254)).isEqualTo(m);
    }

    @Property(tries = 300)
    void corruptionFailsOnlyWithCorruptState(@ForAll("states") MachineState m, @ForAll int at, @ForAll byte x) {
        byte[] b = m.encode();
        b[Math.floorMod(at, b.length)] ^= (byte) (x == 0 ? 1 : x);
        try {
            MachineState.decode(b, "s", 254);
        } catch (CorruptStateException expected) {
            // the only exception a decoder lets out
        }
    }
}
