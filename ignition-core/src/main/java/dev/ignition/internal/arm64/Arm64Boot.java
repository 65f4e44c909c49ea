package dev.ignition.internal.arm64;

import dev.ignition.guest.InvalidKernelImageException;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.spi.BootState;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Loads a Linux arm64 {@code Image}, an optional initrd and the device tree into guest RAM per the
 * arm64 boot protocol: the image at {@code text_offset} from a 2 MiB aligned base at the start of
 * RAM, the device tree 8-byte aligned in its own 2 MiB block at the top of RAM, the initrd right
 * below it; the boot vCPU enters at the image with {@code x0} = device tree address.
 *
 * <pre>{@code
 * Arm64Boot.Loaded l = Arm64Boot.load(memory, kernelBytes, initrdBytes, "console=ttyAMA0",
 *         1, Arm64DeviceTree.Gic.standard(1, 11), List.of(0));
 * hypervisorVm.createVcpu(0, l.boot());
 * }</pre>
 */
public final class Arm64Boot {
    /** The device tree must fit in 2 MiB (booting.rst). */
    public static final int MAX_DTB_SIZE = 2 << 20;

    private Arm64Boot() {}

    /**
     * Where things went.
     *
     * @param boot the boot vCPU's entry state
     * @param image the parsed kernel header
     * @param kernelAddress load address of the image
     * @param initrdStart initrd address, or 0 without one
     * @param initrdEnd one past the initrd, or 0
     * @param dtbAddress device tree address
     * @param dtb the device tree written there
     */
    public record Loaded(BootState.Arm64 boot, Arm64Image image, long kernelAddress, long initrdStart,
                         long initrdEnd, long dtbAddress, byte[] dtb) {}

    /** Addresses chosen for a kernel, initrd and device tree in RAM {@code [ramBase, ramBase + ramSize)}. */
    public record Placement(long kernelAddress, long initrdStart, long dtbAddress) {}

    /**
     * Chooses addresses, checking that nothing overlaps and all fits.
     *
     * @throws InvalidKernelImageException when RAM is too small, naming how much is needed
     */
    public static Placement place(long ramBase, long ramSize, Arm64Image image, long initrdLength) {
        if (ramBase % Arm64Image.BASE_ALIGNMENT != 0) {
            throw new IllegalArgumentException("RAM base must be 2 MiB aligned for the arm64 boot protocol");
        }
        long kernel = ramBase + image.textOffset();
        long kernelEnd = kernel + image.imageSize();
        long ramEnd = ramBase + ramSize;
        long dtb = alignDown(ramEnd - MAX_DTB_SIZE, Arm64Image.BASE_ALIGNMENT);
        long initrd = alignDown(dtb - initrdLength, 4096);
        if (dtb < ramBase || initrd < kernelEnd) {
            long need = image.imageSize() + image.textOffset() + alignUp(initrdLength, 4096) + 2L * MAX_DTB_SIZE;
            throw new InvalidKernelImageException("guest RAM of " + (ramSize >> 20) + " MiB is too small for a kernel of "
                    + image.imageSize() + " bytes (with BSS), an initrd of " + initrdLength
                    + " bytes and the device tree: give the VM at least " + ((need >> 20) + 1) + " MiB");
        }
        return new Placement(kernel, initrd, dtb);
    }

    /**
     * Loads everything into {@code memory}, whose RAM region must start at
     * {@link Arm64Layout#RAM_BASE}, and returns the boot state.
     */
    public static Loaded load(GuestMemory memory, byte[] kernel, byte @Nullable [] initrd, String cmdline,
                              int vcpus, Arm64DeviceTree.Gic gic, List<Integer> virtioSlots) {
        MemoryRegion ram = memory.regions().stream()
                .filter(r -> r.guestAddress() == Arm64Layout.RAM_BASE).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no guest RAM region at 0x"
                        + Long.toHexString(Arm64Layout.RAM_BASE)));
        Arm64Image image = Arm64Image.parse(kernel);
        long initrdLength = initrd == null ? 0 : initrd.length;
        Placement p = place(ram.guestAddress(), ram.size(), image, initrdLength);
        Arm64DeviceTree.Initrd rd = initrd == null ? null
                : new Arm64DeviceTree.Initrd(p.initrdStart(), p.initrdStart() + initrdLength);
        byte[] dtb = Arm64DeviceTree.build(new Arm64DeviceTree.Spec(ram.guestAddress(), ram.size(), vcpus, gic,
                virtioSlots, cmdline, rd));
        if (dtb.length > MAX_DTB_SIZE) {
            throw new InvalidKernelImageException("device tree of " + dtb.length + " bytes exceeds the 2 MiB limit");
        }
        memory.write(p.kernelAddress(), kernel);
        if (initrd != null) {
            memory.write(p.initrdStart(), initrd);
        }
        memory.write(p.dtbAddress(), dtb);
        return new Loaded(new BootState.Arm64(p.kernelAddress(), p.dtbAddress()), image, p.kernelAddress(),
                rd == null ? 0 : rd.start(), rd == null ? 0 : rd.end(), p.dtbAddress(), dtb);
    }

    private static long alignDown(long v, long a) {
        return Math.floorDiv(v, a) * a;
    }

    private static long alignUp(long v, long a) {
        return alignDown(v + a - 1, a);
    }
}
