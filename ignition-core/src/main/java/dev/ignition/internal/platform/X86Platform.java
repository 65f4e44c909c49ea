package dev.ignition.internal.platform;

import dev.ignition.InvalidVmSpecException;
import dev.ignition.VmExit;
import dev.ignition.device.Disk;
import dev.ignition.guest.FreestandingGuest;
import dev.ignition.guest.Guest;
import dev.ignition.guest.LinuxGuest;
import dev.ignition.internal.device.BootTimer;
import dev.ignition.internal.device.ExitDevice;
import dev.ignition.internal.device.ResetPort;
import dev.ignition.internal.device.SerialIo;
import dev.ignition.internal.device.Uart16550;
import dev.ignition.internal.virtio.VirtioDeviceModel;
import dev.ignition.internal.virtio.VirtioMmio;
import dev.ignition.internal.virtio.VirtioSlots;
import dev.ignition.internal.virtio.VirtioVsock;
import dev.ignition.internal.vm.GuestRam;
import dev.ignition.internal.x86.LongModeSetup;
import dev.ignition.internal.x86.X86Layout;
import dev.ignition.internal.x86.linux.LinuxLoader;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.Architecture;
import dev.ignition.spi.BootState;
import java.util.List;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * The x86_64 PC-like platform: a 16550 UART on COM1, the boot-timer byte, the exit port and the
 * i8042 reset command; virtio-mmio windows declared on the Linux command line; freestanding
 * guests entered in long mode at CPL 3, Linux through its 64-bit boot protocol.
 */
public final class X86Platform implements Platform {

    @Override
    public Architecture architecture() {
        return Architecture.X86_64;
    }

    @Override
    public void checkGuest(Guest guest, String backend) {
        // Both guest kinds are x86_64 code.
    }

    @Override
    public GuestMemory allocateMemory(long bytes) {
        return GuestRam.allocateX86(bytes);
    }

    @Override
    public List<VirtioMmio> virtioDevices(List<Disk> disks, boolean rng, @Nullable VirtioVsock vsock,
            @Nullable VirtioDeviceModel network) {
        return VirtioSlots.create(false, disks, rng, vsock, network);
    }

    @Override
    public boolean virtioEdgeTriggered() {
        return true;
    }

    @Override
    public BuiltIns builtInDevices(SerialIo console, Consumer<VmExit> finish) {
        BootTimer timer = new BootTimer(X86Layout.BOOT_TIMER_ADDR);
        return new BuiltIns(List.of(new Uart16550(Uart16550.COM1_PORT, Uart16550.COM1_IRQ, console), timer,
                new ExitDevice(code -> finish.accept(new VmExit.GuestExit(code))),
                new ResetPort(() -> finish.accept(new VmExit.Reset()))), timer);
    }

    @Override
    public BootState load(Guest guest, GuestMemory memory, int vcpus, List<VirtioMmio> virtio) {
        return switch (guest) {
            case FreestandingGuest g -> {
                if (g.loadAddress() < X86Layout.HIMEM_START || !memory.contains(g.loadAddress(), g.code().length)
                        || !memory.contains(0, g.requiredMemory())) {
                    throw new InvalidVmSpecException(List.of("guest '" + g.name() + "' needs "
                            + (g.requiredMemory() >> 10) + " KiB of RAM and its " + g.code().length
                            + " bytes of code at 0x" + Long.toHexString(g.loadAddress())
                            + " above 1 MiB; the VM has " + (memory.size() >> 10) + " KiB"));
                }
                memory.write(g.loadAddress(), g.code());
                yield LongModeSetup.write(memory, g.entryAddress(), 0, LongModeSetup.Privilege.USER);
            }
            case LinuxGuest g -> LinuxLoader.load(memory, vcpus, g.kernel(), g.initramfs(),
                    LinuxLoader.withVirtioDevices(g.commandLine(), virtio.stream()
                            .map(v -> new LinuxLoader.VirtioMmioDevice(v.baseAddress(), v.length(), v.irq())).toList()))
                    .boot();
        };
    }
}
