package dev.ignition.internal.virtio;

import dev.ignition.device.Disk;
import dev.ignition.internal.arm64.Arm64Layout;
import dev.ignition.internal.x86.X86Layout;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Where virtio-mmio devices go in each platform's memory map. x86_64: 4 KiB windows from
 * {@link X86Layout#VIRTIO_MMIO_START} on IOAPIC pins 5-23 (the UART has 4); arm64: the
 * QEMU-{@code virt} slots of {@link Arm64Layout}.
 */
public final class VirtioSlots {
    public static final long X86_WINDOW = 0x1000;
    public static final int X86_FIRST_IRQ = 5;
    /** Pins 5..23 of the 24-pin IOAPIC. */
    public static final int X86_SLOTS = 24 - X86_FIRST_IRQ;
    /** The most devices every platform can hold. */
    public static final int MAX_DEVICES = Math.min(X86_SLOTS, Arm64Layout.VIRTIO_SLOTS);

    private VirtioSlots() {}

    /** A transport for {@code model} in slot {@code slot} of the platform's map. */
    public static VirtioMmio place(boolean arm64, int slot, VirtioDeviceModel model) {
        if (arm64) {
            return new VirtioMmio(Arm64Layout.virtioBase(slot), Arm64Layout.VIRTIO_STRIDE, Arm64Layout.virtioSpi(slot),
                    model);
        }
        if (slot < 0 || slot >= X86_SLOTS) {
            throw new IllegalArgumentException("virtio-mmio slot " + slot + " outside [0, " + X86_SLOTS + ")");
        }
        return new VirtioMmio(X86Layout.VIRTIO_MMIO_START + slot * X86_WINDOW, X86_WINDOW, X86_FIRST_IRQ + slot, model);
    }

    /**
     * The devices for {@code disks} (in order, so the first is {@code /dev/vda}) and, if asked, an
     * entropy device and a vsock device after them. Opens the disk files; on failure closes what
     * it opened.
     */
    public static List<VirtioMmio> create(boolean arm64, List<Disk> disks, boolean rng, @Nullable Long vsockCid) {
        // A vsock model holds nothing until attached: nothing to close if a disk fails to open.
        return create(arm64, disks, rng, vsockCid != null ? new VirtioVsock(vsockCid) : null, null);
    }

    /**
     * As {@link #create(boolean, List, boolean, Long)}, with the caller's vsock model and a
     * network device after the others (last, so adding one moves no other device). On failure
     * also closes {@code network}.
     */
    public static List<VirtioMmio> create(boolean arm64, List<Disk> disks, boolean rng, @Nullable VirtioVsock vsock,
            @Nullable VirtioDeviceModel network) {
        List<VirtioMmio> out = new ArrayList<>();
        try {
            for (Disk d : disks) {
                out.add(place(arm64, out.size(), new VirtioBlk(d.image(), d.readOnly(), d.id())));
            }
            if (rng) {
                out.add(place(arm64, out.size(), new VirtioRng()));
            }
            if (vsock != null) {
                out.add(place(arm64, out.size(), vsock));
            }
            if (network != null) {
                out.add(place(arm64, out.size(), network));
            }
            return out;
        } catch (RuntimeException e) {
            out.forEach(VirtioMmio::close);
            if (network != null) {
                network.close();
            }
            throw e;
        }
    }
}
