package dev.ignition.internal.platform;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.InvalidVmSpecException;
import dev.ignition.VmExit;
import dev.ignition.device.Device;
import dev.ignition.device.Disk;
import dev.ignition.guest.FreestandingGuest;
import dev.ignition.guest.LinuxGuest;
import dev.ignition.guest.TestGuests;
import dev.ignition.internal.arm64.Arm64Layout;
import dev.ignition.internal.device.DeviceBus;
import dev.ignition.internal.device.ExitDevice;
import dev.ignition.internal.device.ResetPort;
import dev.ignition.internal.device.SerialIo;
import dev.ignition.internal.device.Uart16550;
import dev.ignition.internal.virtio.VirtioMmio;
import dev.ignition.internal.virtio.VirtioVsock;
import dev.ignition.internal.x86.X86Layout;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.Architecture;
import dev.ignition.spi.BootState;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each platform's devices, virtio placement and guest loading, without a hypervisor. */
class PlatformTest {
    /** A console that records what the guest printed and hands over queued input. */
    private static final class RecordingSerial implements SerialIo {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final List<Runnable> inputCallbacks = new ArrayList<>();

        @Override
        public void emit(byte[] bytes, int off, int len) {
            out.write(bytes, off, len);
        }

        @Override
        public int pollInput() {
            return -1;
        }

        @Override
        public void onInput(Runnable callback) {
            inputCallbacks.add(callback);
        }
    }

    @Test
    void theArchitectureChoosesThePlatform() {
        assertThat(Platform.of(Architecture.X86_64)).isInstanceOf(X86Platform.class);
        assertThat(Platform.of(Architecture.ARM64)).isInstanceOf(Arm64Platform.class);
        for (Architecture a : Architecture.values()) {
            assertThat(Platform.of(a).architecture()).isEqualTo(a);
        }
    }

    @Test
    void x86HasTheUartTheBootTimerTheExitPortAndTheResetPortWiredToTheVm() {
        List<VmExit> exits = new ArrayList<>();
        RecordingSerial serial = new RecordingSerial();
        Platform.BuiltIns b = new X86Platform().builtInDevices(serial, exits::add);
        assertThat(b.devices()).extracting(Device::name)
                .containsExactly("uart16550@0x3f8", b.bootTimer().name(), "exit", "i8042-reset");
        assertThat(b.devices()).contains(b.bootTimer());
        DeviceBus bus = new DeviceBus();
        b.devices().forEach(bus::add);

        bus.writePort(Uart16550.COM1_PORT, 1, 'k');
        assertThat(serial.out.toString()).isEqualTo("k");
        bus.writePort(ExitDevice.PORT, 1, 7);
        bus.writePort(ResetPort.PORT, 1, 0xfe);
        assertThat(exits).containsExactly(new VmExit.GuestExit(7), new VmExit.Reset());
        assertThat(b.bootTimer().baseAddress()).isEqualTo(X86Layout.BOOT_TIMER_ADDR);
    }

    @Test
    void arm64HasOnlyAPl011OnTheConsoleAndNoBootTimer() {
        List<VmExit> exits = new ArrayList<>();
        RecordingSerial serial = new RecordingSerial();
        Platform.BuiltIns b = new Arm64Platform().builtInDevices(serial, exits::add);
        assertThat(b.devices()).hasSize(1);
        assertThat(b.devices()).doesNotContain(b.bootTimer());
        assertThat(b.bootTimer().bootNanos()).isNegative();
        assertThat(serial.inputCallbacks).hasSize(1); // console input reaches the UART

        DeviceBus bus = new DeviceBus();
        b.devices().forEach(bus::add);
        bus.writeMmio(Arm64Layout.UART_BASE, 4, 'a'); // UARTDR
        assertThat(serial.out.toString()).isEqualTo("a");
        assertThat(exits).isEmpty();
    }

    @Test
    void x86PlacesVirtioDevicesInWindowsOnIoapicPinsWithEdgeLines(@TempDir Path dir) throws Exception {
        Path disk = Files.write(dir.resolve("d.img"), new byte[4096]);
        X86Platform x86 = new X86Platform();
        List<VirtioMmio> v = x86.virtioDevices(List.of(Disk.of(disk)), true, new VirtioVsock(3), null);
        try {
            assertThat(v).extracting(VirtioMmio::baseAddress).containsExactly(X86Layout.VIRTIO_MMIO_START,
                    X86Layout.VIRTIO_MMIO_START + 0x1000, X86Layout.VIRTIO_MMIO_START + 0x2000);
            assertThat(v).extracting(VirtioMmio::irq).containsExactly(5, 6, 7);
            assertThat(v).extracting(m -> m.model().kind()).containsExactly("virtio-blk", "virtio-rng", "virtio-vsock");
            assertThat(x86.virtioEdgeTriggered()).isTrue();
        } finally {
            v.forEach(VirtioMmio::close);
        }
    }

    @Test
    void arm64PlacesVirtioDevicesInTheVirtSlotsOnLevelTriggeredSpis() {
        Arm64Platform arm = new Arm64Platform();
        List<VirtioMmio> v = arm.virtioDevices(List.of(), true, new VirtioVsock(3), null);
        try {
            assertThat(v).extracting(VirtioMmio::baseAddress)
                    .containsExactly(Arm64Layout.virtioBase(0), Arm64Layout.virtioBase(1));
            assertThat(v).extracting(VirtioMmio::irq)
                    .containsExactly(Arm64Layout.virtioSpi(0), Arm64Layout.virtioSpi(1));
            assertThat(arm.virtioEdgeTriggered()).isFalse();
        } finally {
            v.forEach(VirtioMmio::close);
        }
    }

    @Test
    void x86LoadsAFreestandingGuestAtItsAddressAndEntersItAtCpl3() {
        FreestandingGuest hello = TestGuests.hello();
        X86Platform x86 = new X86Platform();
        try (GuestMemory memory = x86.allocateMemory(4 << 20)) {
            BootState boot = x86.load(hello, memory, 1, List.of());
            assertThat(boot).isInstanceOfSatisfying(BootState.X86LongMode.class, b -> {
                assertThat(b.rip()).isEqualTo(hello.entryAddress());
                assertThat(b.cpl()).isEqualTo(3);
            });
            byte[] loaded = new byte[hello.code().length];
            memory.read(hello.loadAddress(), loaded);
            assertThat(loaded).isEqualTo(hello.code());
        }
    }

    @Test
    void x86RefusesAGuestThatDoesNotFitWithTheSizes() {
        FreestandingGuest big = TestGuests.dirtier(10_000);
        X86Platform x86 = new X86Platform();
        try (GuestMemory memory = x86.allocateMemory(2 << 20)) {
            assertThatThrownBy(() -> x86.load(big, memory, 1, List.of()))
                    .isInstanceOf(InvalidVmSpecException.class)
                    .hasMessageContaining("guest '" + big.name() + "' needs")
                    .hasMessageContaining("the VM has 2048 KiB");
        }
    }

    @Test
    void arm64RefusesFreestandingGuestsNamingTheBackend() {
        Arm64Platform arm = new Arm64Platform();
        assertThatThrownBy(() -> arm.checkGuest(TestGuests.hello(), "hvf"))
                .isInstanceOf(InvalidVmSpecException.class)
                .hasMessageContaining("freestanding guests are x86_64 code, but backend 'hvf' runs ARM64 guests");
        arm.checkGuest(new LinuxGuest(Path.of("Image"), null, "console=ttyS0"), "hvf");
        new X86Platform().checkGuest(TestGuests.hello(), "kvm");
        try (GuestMemory memory = arm.allocateMemory(2 << 20)) {
            assertThatThrownBy(() -> arm.load(TestGuests.hello(), memory, 1, List.of()))
                    .isInstanceOf(InvalidVmSpecException.class).hasMessageContaining("arm64 VMs run Linux guests");
        }
    }
}
