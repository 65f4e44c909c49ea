package dev.ignition.internal.platform;

import dev.ignition.InvalidVmSpecException;
import dev.ignition.VmExit;
import dev.ignition.device.Device;
import dev.ignition.device.Disk;
import dev.ignition.guest.Guest;
import dev.ignition.internal.device.BootTimer;
import dev.ignition.internal.device.SerialIo;
import dev.ignition.internal.virtio.VirtioDeviceModel;
import dev.ignition.internal.virtio.VirtioMmio;
import dev.ignition.internal.virtio.VirtioVsock;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.Architecture;
import dev.ignition.spi.BootState;
import java.util.List;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * What differs between guest architectures when a VM is put together: chosen once per VM from
 * its backend's architecture, so nothing else asks which architecture it runs.
 */
public sealed interface Platform permits X86Platform, Arm64Platform {

    /** The platform for guests of {@code architecture}. */
    static Platform of(Architecture architecture) {
        return switch (architecture) {
            case X86_64 -> new X86Platform();
            case ARM64 -> new Arm64Platform();
        };
    }

    Architecture architecture();

    /**
     * Refuses a guest this platform cannot run, before anything is allocated.
     *
     * @param backend the backend's name, for the message
     * @throws InvalidVmSpecException saying why
     */
    void checkGuest(Guest guest, String backend);

    /** Guest RAM of {@code bytes}, laid out as this platform's memory map wants it. */
    GuestMemory allocateMemory(long bytes);

    /**
     * The virtio-mmio transports, in slot order: one block device per disk ({@code /dev/vda}
     * first), then entropy, vsock and network when given. Opens the disk files; on failure closes
     * what it opened and {@code network}.
     */
    List<VirtioMmio> virtioDevices(List<Disk> disks, boolean rng, @Nullable VirtioVsock vsock,
            @Nullable VirtioDeviceModel network);

    /**
     * Whether the virtio transports' interrupt pins are edge-triggered, so the backend's edge
     * line (KVM: an irqfd) may serve them. x86 IOAPIC pins are; arm64 GIC SPIs are
     * level-triggered.
     */
    boolean virtioEdgeTriggered();

    /**
     * The devices every VM of this platform has.
     *
     * @param console the host side of the platform's serial console
     * @param finish ends the VM (the guest wrote the exit port, asked for a reset)
     */
    BuiltIns builtInDevices(SerialIo console, Consumer<VmExit> finish);

    /**
     * Loads {@code guest} into {@code memory} and tells the boot vCPU where to start; a Linux
     * guest learns of the {@code virtio} devices from its command line or device tree.
     *
     * @throws InvalidVmSpecException if the guest does not fit or cannot run here
     */
    BootState load(Guest guest, GuestMemory memory, int vcpus, List<VirtioMmio> virtio);

    /**
     * @param devices the built-in devices, in bus order
     * @param bootTimer the device the guest reports its boot with (one outside the bus, never
     *     written, when the platform has none)
     */
    record BuiltIns(List<Device> devices, BootTimer bootTimer) {
        public BuiltIns {
            devices = List.copyOf(devices);
        }
    }
}
