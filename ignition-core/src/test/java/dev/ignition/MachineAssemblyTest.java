package dev.ignition;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.device.Disk;
import dev.ignition.guest.TestGuests;
import dev.ignition.memory.GuestMemory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the assembly makes of a builder, before any backend is involved. */
class MachineAssemblyTest {
    /** An image that is only ever inspected, never restored. */
    private static VmImage image(String backend, long memoryBytes, int vcpus, List<Disk> disks) {
        return new VmImage() {
            @Override
            public String backend() {
                return backend;
            }

            @Override
            public long memoryBytes() {
                return memoryBytes;
            }

            @Override
            public GuestMemory takeMemory() {
                throw new AssertionError("not restored here");
            }

            @Override
            public List<byte[]> vcpuStates() {
                return Collections.nCopies(vcpus, new byte[0]);
            }

            @Override
            public byte[] vmState() {
                return new byte[0];
            }

            @Override
            public Map<String, byte[]> deviceStates() {
                return Map.of();
            }

            @Override
            public List<Disk> disks() {
                return disks;
            }
        };
    }

    @Test
    void anImagesSizesAndBackendStandInForTheBuildersWithoutBeingWrittenBack() {
        Disk disk = Disk.of(Path.of("snapshot-disk.img"));
        VirtualMachine.Builder b = VirtualMachine.builder().restoreFrom(image("fake", 64L << 20, 3, List.of(disk)));
        MachineSpec spec = MachineAssembly.resolve(b);
        assertThat(spec.memoryBytes()).isEqualTo(64L << 20);
        assertThat(spec.vcpus()).isEqualTo(3);
        assertThat(spec.backend()).isEqualTo("fake");
        assertThat(spec.disks()).containsExactly(disk);
        // The builder still holds what it was told: it can restore another image, or build anew.
        assertThat(b.memoryBytes).isEqualTo(128L << 20);
        assertThat(b.vcpus).isEqualTo(1);
        assertThat(b.backend).isNull();
        b.restoreFrom(image("other", 32L << 20, 1, List.of()));
        assertThat(MachineAssembly.resolve(b).memoryBytes()).isEqualTo(32L << 20);
    }

    @Test
    void withoutAnImageTheSpecIsTheBuilders() {
        VirtualMachine.Builder b = VirtualMachine.builder().guest(TestGuests.hello()).memoryMiB(16).vcpus(2)
                .backend("kvm").trackDirtyPages(true).virtioRng().vsock(7);
        MachineSpec spec = MachineAssembly.resolve(b);
        assertThat(spec.memoryBytes()).isEqualTo(16L << 20);
        assertThat(spec.vcpus()).isEqualTo(2);
        assertThat(spec.backend()).isEqualTo("kvm");
        assertThat(spec.trackDirtyPages()).isTrue();
        assertThat(spec.virtioRng()).isTrue();
        assertThat(spec.vsockCid()).isEqualTo(7L);
        assertThat(spec.image()).isNull();
        assertThat(spec.guest()).isEqualTo(TestGuests.hello());
    }

    @Test
    void everyMismatchWithTheImageIsNamedAtOnce() {
        VirtualMachine.Builder b = VirtualMachine.builder().memoryMiB(32).vcpus(2).backend("kvm")
                .restoreFrom(image("hvf", 64L << 20, 1, List.of()));
        assertThatThrownBy(() -> MachineAssembly.resolve(b)).isInstanceOf(SnapshotMismatchException.class)
                .hasMessage("cannot restore: the snapshot has 64 MiB of memory, the builder asks for 32 MiB;"
                        + " the snapshot has 1 vCPUs, the builder asks for 2;"
                        + " the snapshot was taken with backend 'hvf', the builder asks for 'kvm'");
        // Values matching the image are fine.
        b.memoryMiB(64).vcpus(1).backend("hvf");
        assertThat(MachineAssembly.resolve(b).memoryBytes()).isEqualTo(64L << 20);
    }

    @Test
    void validationNamesNetworkAndVirtioProblems() {
        MachineSpec spec = MachineAssembly.resolve(VirtualMachine.builder().guest(TestGuests.hello()).vsock(2)
                .network(Network.userMode().forwardTcp(70_000, 80).forwardTcp(8080, 80)));
        List<String> problems = new ArrayList<>();
        MachineAssembly.validate(spec, problems);
        assertThat(problems).containsExactly(
                "a vsock guest CID must be between 3 and 4294967294 (0-2 are reserved), was 2",
                "a forwarded host port must be 0 (pick a free one) or 1-65535, was 70000",
                "guest port 80 is forwarded twice");
    }
}
