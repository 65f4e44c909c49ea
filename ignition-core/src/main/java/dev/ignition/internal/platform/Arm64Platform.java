package dev.ignition.internal.platform;

import dev.ignition.IgnitionException;
import dev.ignition.InvalidVmSpecException;
import dev.ignition.VmExit;
import dev.ignition.device.Disk;
import dev.ignition.guest.FreestandingGuest;
import dev.ignition.guest.Guest;
import dev.ignition.guest.LinuxGuest;
import dev.ignition.internal.arm64.Arm64Boot;
import dev.ignition.internal.arm64.Arm64DeviceTree;
import dev.ignition.internal.arm64.Arm64Layout;
import dev.ignition.internal.arm64.Pl011;
import dev.ignition.internal.device.BootTimer;
import dev.ignition.internal.device.SerialIo;
import dev.ignition.internal.virtio.VirtioDeviceModel;
import dev.ignition.internal.virtio.VirtioMmio;
import dev.ignition.internal.virtio.VirtioSlots;
import dev.ignition.internal.virtio.VirtioVsock;
import dev.ignition.internal.vm.GuestRam;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.Architecture;
import dev.ignition.spi.BootState;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.jspecify.annotations.Nullable;

/**
 * The arm64 QEMU-{@code virt}-like platform: a PL011 on the console (the device tree's stdout),
 * virtio-mmio slots declared in a generated device tree, Linux {@code Image}s loaded per the arm64
 * boot protocol. There is no boot timer or exit port; guests end the VM through PSCI SYSTEM_OFF.
 */
public final class Arm64Platform implements Platform {
    /** The virtual timer's PPI (INTID 27), which Hypervisor.framework's GIC requires. */
    static final int VTIMER_PPI = 11;

    @Override
    public Architecture architecture() {
        return Architecture.ARM64;
    }

    @Override
    public void checkGuest(Guest guest, String backend) {
        if (guest instanceof FreestandingGuest) {
            throw new InvalidVmSpecException(List.of("freestanding guests are x86_64 code, but backend '"
                    + backend + "' runs " + architecture() + " guests"));
        }
    }

    @Override
    public GuestMemory allocateMemory(long bytes) {
        return GuestRam.allocateArm64(bytes);
    }

    @Override
    public List<VirtioMmio> virtioDevices(List<Disk> disks, boolean rng, @Nullable VirtioVsock vsock,
            @Nullable VirtioDeviceModel network) {
        return VirtioSlots.create(true, disks, rng, vsock, network);
    }

    @Override
    public boolean virtioEdgeTriggered() {
        return false;
    }

    @Override
    public BuiltIns builtInDevices(SerialIo console, Consumer<VmExit> finish) {
        OutputStream out = new OutputStream() {
            @Override
            public void write(int b) {
                console.emit(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                console.emit(b, off, len);
            }
        };
        Pl011 uart = new Pl011(Arm64Layout.UART_BASE, Arm64Layout.UART_SPI, out);
        console.onInput(() -> {
            ByteArrayOutputStream in = new ByteArrayOutputStream();
            for (int c; (c = console.pollInput()) >= 0; ) {
                in.write(c);
            }
            uart.receive(in.toByteArray());
        });
        return new BuiltIns(List.of(uart), new BootTimer(-1));
    }

    /** Loads an arm64 Linux {@code Image} with a generated device tree, per the arm64 boot protocol. */
    @Override
    public BootState load(Guest guest, GuestMemory memory, int vcpus, List<VirtioMmio> virtio) {
        if (!(guest instanceof LinuxGuest g)) {
            throw new InvalidVmSpecException(List.of("arm64 VMs run Linux guests; " + guest + " is x86_64 code"));
        }
        byte[] kernel;
        try {
            kernel = Files.readAllBytes(g.kernel());
        } catch (IOException e) {
            throw new IgnitionException("cannot read the kernel image " + g.kernel() + ": " + e.getMessage(), e);
        }
        // The x86 default names the 8250 console; on arm64 the console is the PL011.
        String cmdline = g.commandLine().replace("console=ttyS0", "console=ttyAMA0").replace("reboot=k", "").trim();
        return Arm64Boot.load(memory, kernel, g.initramfs(), cmdline, vcpus,
                Arm64DeviceTree.Gic.standard(vcpus, VTIMER_PPI),
                IntStream.range(0, virtio.size()).boxed().toList()).boot();
    }
}
