package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.SnapshotMismatchException;
import dev.ignition.VmImage;
import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.MachineState;
import dev.ignition.internal.state.UnsupportedStateVersionException;
import dev.ignition.memory.GuestMemory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The VM state a layer carries (one {@code MachineState} record, format 2) as {@link VmSnapshots}
 * reads it back, and the refusal of what older or hostile writers left. No hypervisor needed:
 * layers are written straight into the store.
 */
class VmStateFormatTest {
    static final int PS = 4096;
    static final long MEM = 8L * PS;

    @TempDir Path dir;
    SnapshotStore store;

    @BeforeEach
    void open() {
        store = SnapshotStore.open(dir.resolve("store"));
    }

    @AfterEach
    void close() {
        store.close();
    }

    private void write(String name, Map<String, byte[]> state) {
        try (GuestMemory mem = TestMemory.create(PS, 0, MEM)) {
            store.writeFull(name, mem, state, List.of());
        }
    }

    @Test
    void aVmStateRoundTripsThroughALayer() {
        Map<String, byte[]> devices = new LinkedHashMap<>();
        devices.put("com1", new byte[] {5, 6, 7});
        devices.put("virtio-rng@0xd0001000", new byte[] {8});
        MachineState ms = new MachineState("kvm", MEM, List.of(new byte[] {1, 1}, new byte[] {2}), new byte[] {3},
                devices);
        write("s", Map.of(VmSnapshots.STATE_ENTRY, ms.encode()));
        VmImage image = VmSnapshots.image(store, "s");
        try {
            assertThat(image.backend()).isEqualTo("kvm");
            assertThat(image.memoryBytes()).isEqualTo(MEM);
            assertThat(image.vcpuStates()).hasSize(2);
            assertThat(image.vcpuStates().get(0)).containsExactly(1, 1);
            assertThat(image.vcpuStates().get(1)).containsExactly(2);
            assertThat(image.vmState()).containsExactly(3);
            assertThat(image.deviceStates().keySet()).containsExactly("com1", "virtio-rng@0xd0001000");
            assertThat(image.deviceStates().get("com1")).containsExactly(5, 6, 7);
        } finally {
            image.takeMemory().close();
            image.release();
        }
    }

    @Test
    void aFormatOneLayerIsRefusedNamingBothVersions() {
        // What the previous release wrote: a Properties header and one entry per blob.
        Map<String, byte[]> old = new LinkedHashMap<>();
        old.put("ignition.meta", ("format=1\nbackend=kvm\nvcpus=1\nmemory=" + MEM + "\n").getBytes(StandardCharsets.UTF_8));
        old.put("vcpu.0", new byte[] {1});
        old.put("hypervisor", new byte[] {2});
        old.put("device.com1", new byte[] {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
        write("old", old);
        assertThatThrownBy(() -> VmSnapshots.image(store, "old")).isInstanceOf(SnapshotMismatchException.class)
                .hasMessage("snapshot 'old' has VM state format 1; this build reads format 2 only: restore it with"
                        + " the Ignition version that wrote it, or take the snapshot again");
        assertThat(dir.resolve("store/work")).isEmptyDirectory();
    }

    @Test
    void aNewerFormatIsRefusedNamingBothVersionsWithItsCause() {
        byte[] b = new MachineState("kvm", MEM, List.of(new byte[1]), new byte[0], Map.of()).encode();
        b[4] = 3; // the record's version
        write("new", Map.of(VmSnapshots.STATE_ENTRY, b));
        assertThatThrownBy(() -> VmSnapshots.image(store, "new")).isInstanceOf(SnapshotMismatchException.class)
                .hasMessage("snapshot 'new' has VM state format 3; this build reads format 2")
                .hasCauseInstanceOf(UnsupportedStateVersionException.class);
    }

    @Test
    void aMalformedOrInconsistentStateIsRefusedWithItsCause() {
        byte[] b = new MachineState("kvm", MEM, List.of(new byte[1]), new byte[0], Map.of()).encode();
        write("cut", Map.of(VmSnapshots.STATE_ENTRY, Arrays.copyOf(b, b.length - 3)));
        assertThatThrownBy(() -> VmSnapshots.image(store, "cut")).isInstanceOf(SnapshotMismatchException.class)
                .hasMessageStartingWith("snapshot 'cut' has unreadable VM state: snapshot 'cut': ")
                .hasCauseInstanceOf(CorruptStateException.class);
        byte[] big = new MachineState("kvm", 2 * MEM, List.of(new byte[1]), new byte[0], Map.of()).encode();
        write("big", Map.of(VmSnapshots.STATE_ENTRY, big));
        assertThatThrownBy(() -> VmSnapshots.image(store, "big")).isInstanceOf(SnapshotMismatchException.class)
                .hasMessage("snapshot 'big' has inconsistent VM state: memory " + 2 * MEM
                        + " bytes, but its layers map " + MEM);
        write("none", Map.of("cpu", new byte[1]));
        assertThatThrownBy(() -> VmSnapshots.image(store, "none")).isInstanceOf(SnapshotMismatchException.class)
                .hasMessageContaining("holds no VM state");
    }
}
