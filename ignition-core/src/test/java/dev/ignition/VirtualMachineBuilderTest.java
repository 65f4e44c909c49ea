package dev.ignition;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.device.Device;
import dev.ignition.device.Disk;
import dev.ignition.device.PortIoDevice;
import dev.ignition.guest.TestGuests;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VirtualMachineBuilderTest {
    @Test
    void reportsEveryProblemAtOnce() {
        assertThatThrownBy(() -> VirtualMachine.builder().memoryBytes(0).vcpus(100_000).build())
                .isInstanceOfSatisfying(InvalidVmSpecException.class, e -> {
                    assertThat(e.problems()).hasSize(3);
                    assertThat(e.getMessage())
                            .contains("memory must be positive")
                            .contains("vCPU count must be between 1 and 254, was 100000")
                            .contains("no guest");
                });
    }

    @Test
    void rejectsUnalignedAndOversizedMemoryAndTooSmallForTheGuest() {
        assertThatThrownBy(() -> VirtualMachine.builder().memoryBytes(3 << 20).guest(TestGuests.hello()).build())
                .hasMessageContaining("multiple of 2 MiB");
        assertThatThrownBy(() -> VirtualMachine.builder().memoryMiB(1L << 30).guest(TestGuests.hello()).build())
                .hasMessageContaining("at most 512 GiB");
        assertThatThrownBy(() -> VirtualMachine.builder().memoryMiB(4).guest(TestGuests.dirtier(10_000)).build())
                .hasMessageContaining("needs at least");
        assertThatThrownBy(() -> VirtualMachine.builder().vcpus(0).guest(TestGuests.hello()).build())
                .hasMessageContaining("was 0");
    }

    @Test
    void rejectsDevicesThatOverlapBuiltInsOrEachOther() {
        PortIoDevice onCom1 = port("mine", 0x3f8, 2);
        assertThatThrownBy(() -> VirtualMachine.builder().guest(TestGuests.hello()).device(onCom1)
                .device(port("a", 0x500, 4)).device(port("b", 0x502, 4)).build())
                .isInstanceOfSatisfying(InvalidVmSpecException.class, e -> assertThat(e.problems())
                        .containsExactly("device 'mine' ports overlap those of 'uart16550@0x3f8'",
                                "device 'b' ports overlap those of 'a'"));
    }

    @Test
    void reportsUnusableDiskImagesAndTooManyVirtioDevices(@TempDir Path dir)
            throws Exception {
        Path missing = dir.resolve("missing.img");
        Path readOnly = Files.write(dir.resolve("ro.img"), new byte[512]);
        readOnly.toFile().setWritable(false);
        VirtualMachine.Builder b = VirtualMachine.builder().guest(TestGuests.hello())
                .disk(Disk.of(missing)).disk(Disk.of(readOnly))
                .disk(Disk.of(readOnly).asReadOnly()).virtioRng();
        for (int i = 0; i < 17; i++) {
            b.disk(Disk.of(readOnly).asReadOnly());
        }
        assertThatThrownBy(b::build).isInstanceOfSatisfying(InvalidVmSpecException.class, e -> {
            assertThat(e.problems()).contains("21 virtio devices were asked for; at most 19 fit",
                    "disk image " + missing + " does not exist or is not a regular file");
            if (!Files.isWritable(readOnly)) { // root can write anyway
                assertThat(e.problems()).contains("disk image " + readOnly
                        + " is not writable; attach it with Disk.asReadOnly() or fix its permissions");
            }
        });
    }

    @Test
    void rejectsReservedVsockCids() {
        assertThatThrownBy(() -> VirtualMachine.builder().guest(TestGuests.hello()).vsock(2).build())
                .hasMessageContaining("a vsock guest CID must be between 3 and 4294967294 (0-2 are reserved), was 2");
        assertThatThrownBy(() -> VirtualMachine.builder().guest(TestGuests.hello()).vsock(1L << 32).build())
                .hasMessageContaining("was 4294967296");
    }

    @Test
    void diskIdsAreCheckedAndDefaultToTheFileName() {
        assertThat(Disk.of(Path.of("/x/a-rather-long-disk-image-name.img")).id())
                .isEqualTo("a-rather-long-disk-i");
        assertThatThrownBy(() -> Disk.of(Path.of("d")).withId("x".repeat(21)))
                .hasMessageContaining("longer than 20 bytes");
        assertThat(Disk.of(Path.of("d")).asReadOnly().readOnly()).isTrue();
    }

    @Test
    void withoutABackendOnTheClassPathBuildSaysSo() {
        // ignition-core's own tests have no backend module on the class path.
        assertThat(Backends.probeAll()).isEmpty();
        assertThat(Backends.availability().available()).isFalse();
        assertThatThrownBy(() -> VirtualMachine.builder().guest(TestGuests.hello()).build())
                .isInstanceOf(BackendUnavailableException.class)
                .hasMessageContaining("no hypervisor backend on the class path: add ignition-kvm");
    }

    static PortIoDevice port(String name, int base, int count) {
        return new PortIoDevice() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public int basePort() {
                return base;
            }

            @Override
            public int portCount() {
                return count;
            }

            @Override
            public long read(int offset, int size) {
                return 0;
            }

            @Override
            public void write(int offset, int size, long value) {}

            @Override
            public byte[] saveState() {
                return new byte[0];
            }

            @Override
            public void restoreState(byte[] state) {
                Device.requireNoState(this, state);
            }
        };
    }

    @Test
    void reportsEveryNetworkProblemAtOnce() {
        Network bad = Network.userMode().forwardTcp(-1, 80).forwardTcp(70_000, 0).forwardTcp(8080, 22)
                .forwardTcp(8080, 22);
        assertThatThrownBy(() -> VirtualMachine.builder().guest(TestGuests.hello()).network(bad).build())
                .isInstanceOfSatisfying(InvalidVmSpecException.class, e -> assertThat(e.problems()).containsExactly(
                        "a forwarded host port must be 0 (pick a free one) or 1-65535, was -1",
                        "a forwarded host port must be 0 (pick a free one) or 1-65535, was 70000",
                        "a forwarded guest port must be 1-65535, was 0",
                        "host port 8080 is forwarded twice",
                        "guest port 22 is forwarded twice"));
    }

    @Test
    void theNetworkDeviceCountsAgainstTheVirtioSlots() {
        VirtualMachine.Builder b = VirtualMachine.builder().guest(TestGuests.hello()).virtioRng().vsock(3)
                .network(Network.userMode());
        for (int i = 0; i < 17; i++) {
            b.disk(Disk.of(Path.of("/nonexistent-" + i)));
        }
        assertThatThrownBy(b::build).isInstanceOfSatisfying(InvalidVmSpecException.class,
                e -> assertThat(e.problems()).contains("20 virtio devices were asked for; at most 19 fit"));
    }

    @Test
    void rejectsTapNamesLinuxCannotHave() {
        for (String name : new String[] {"", "a-name-of-16-byt", "a/b", "tap 0"}) {
            assertThatThrownBy(() -> VirtualMachine.builder().guest(TestGuests.hello()).network(Network.tap(name)).build())
                    .as(name).isInstanceOfSatisfying(InvalidVmSpecException.class, e -> assertThat(e.problems())
                            .contains("a TAP interface name has 1-15 bytes, no '/' and no spaces, was '" + name + "'"));
        }
    }
}
