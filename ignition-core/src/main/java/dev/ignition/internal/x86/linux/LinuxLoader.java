package dev.ignition.internal.x86.linux;

import dev.ignition.guest.InvalidKernelImageException;
import dev.ignition.guest.LinuxBootException;
import dev.ignition.internal.x86.LongModeSetup;
import dev.ignition.internal.x86.X86Layout;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.spi.BootState;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Loads a Linux kernel for the 64-bit boot protocol: kernel, initramfs, command line, MP table,
 * zero page, GDT and page tables. Everything is checked before the first byte is written, so a
 * failure leaves guest memory untouched.
 *
 * <p>Layout (Firecracker's): zero page at 0x7000, command line at 0x20000, MP table at 0x9FC00,
 * a bzImage at 1 MiB (it relocates itself to {@code pref_address}), a vmlinux at its physical
 * addresses, the initramfs page-aligned at the top of low RAM (below {@code initrd_addr_max}).
 */
public final class LinuxLoader {
    /** Largest kernel file accepted: far above any real kernel, small enough to refuse garbage early. */
    static final long MAX_IMAGE_SIZE = 1L << 30;
    static final long INITRD_ALIGNMENT = 4096;

    /**
     * Where things went.
     *
     * @param boot the boot vCPU's entry state
     * @param kernel the parsed image
     * @param initrdAddress guest-physical address of the initramfs (0 if none)
     * @param initrdSize its size
     * @param commandLine the command line as written
     * @param e820 the memory map given to the kernel
     */
    public record Loaded(BootState.X86LongMode boot, KernelImage kernel, long initrdAddress, long initrdSize,
            String commandLine, List<E820.Entry> e820) {}

    private LinuxLoader() {}

    /**
     * A virtio-mmio device declared to the kernel on its command line
     * ({@code CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES}), as there is no device tree or ACPI on x86.
     *
     * @param base guest-physical address of the register window
     * @param size its length in bytes
     * @param irq its interrupt (IOAPIC pin)
     */
    public record VirtioMmioDevice(long base, long size, int irq) {
        /** {@code virtio_mmio.device=<size>@<base>:<irq>}, the syntax of drivers/virtio/virtio_mmio.c. */
        public String parameter() {
            String sz = size % 1024 == 0 ? (size / 1024) + "K" : Long.toString(size);
            return "virtio_mmio.device=" + sz + "@0x" + Long.toHexString(base) + ":" + irq;
        }
    }

    /** {@code commandLine} with one {@code virtio_mmio.device=} parameter per device appended, in order. */
    public static String withVirtioDevices(String commandLine, List<VirtioMmioDevice> devices) {
        StringBuilder b = new StringBuilder(commandLine.strip());
        for (VirtioMmioDevice d : devices) {
            if (!b.isEmpty()) {
                b.append(' ');
            }
            b.append(d.parameter());
        }
        return b.toString();
    }

    /**
     * Loads the kernel file {@code kernelPath}.
     *
     * @throws InvalidKernelImageException if the file is not a usable kernel
     * @throws LinuxBootException if the pieces do not fit the VM
     */
    public static Loaded load(GuestMemory memory, int vcpus, Path kernelPath, byte @Nullable [] initrd,
            String commandLine) {
        try (Arena arena = Arena.ofConfined();
                FileChannel ch = FileChannel.open(kernelPath, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size > MAX_IMAGE_SIZE) {
                throw new InvalidKernelImageException(kernelPath + " is " + size + " bytes, larger than any kernel ("
                        + MAX_IMAGE_SIZE + " bytes accepted)");
            }
            if (size == 0) {
                throw new InvalidKernelImageException(kernelPath + " is empty");
            }
            MemorySegment image = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return load(memory, vcpus, image, kernelPath.toString(), initrd, commandLine);
        } catch (NoSuchFileException e) {
            throw new InvalidKernelImageException("kernel image " + kernelPath + " does not exist", e);
        } catch (IOException e) {
            throw new InvalidKernelImageException("cannot read kernel image " + kernelPath + ": " + e.getMessage(), e);
        }
    }

    /** Loads a kernel image already in memory; {@code name} names it in errors. */
    public static Loaded load(GuestMemory memory, int vcpus, MemorySegment image, String name,
            byte @Nullable [] initrd, String commandLine) {
        KernelImage kernel = KernelImage.parse(image, name);
        List<MemoryRegion> regions = memory.regions();
        List<E820.Entry> e820 = E820.forRegions(regions);
        byte[] mpTable = MpTable.build(vcpus, MpTable.ADDRESS);

        byte[] cmdline = commandLine.getBytes(StandardCharsets.UTF_8);
        if (commandLine.indexOf('\0') >= 0) {
            throw new LinuxBootException("the kernel command line contains a NUL character");
        }
        if (cmdline.length > kernel.commandLineMax()) {
            throw new LinuxBootException("the kernel command line is " + cmdline.length + " bytes; " + name
                    + " accepts at most " + kernel.commandLineMax());
        }
        if (X86Layout.CMDLINE_ADDR + cmdline.length + 1 > MpTable.ADDRESS) {
            throw new LinuxBootException("the kernel command line is too long for the boot layout");
        }

        MemoryRegion low = regions.getFirst();
        long kernelEnd = kernel.highestAddress();
        if (!memory.contains(kernel.lowestAddress(), kernelEnd - kernel.lowestAddress())) {
            throw new LinuxBootException(String.format("%s needs RAM at [0x%x, 0x%x) while it boots, but the VM has"
                    + " %d MiB below the MMIO gap; give the VM more memory", name, kernel.lowestAddress(), kernelEnd,
                    low.end() >> 20));
        }
        long initrdAddress = 0;
        long initrdSize = initrd == null ? 0 : initrd.length;
        if (initrdSize > 0) {
            long top = Math.min(low.end(), kernel.initrdAddressMax() + 1);
            initrdAddress = (top - initrdSize) & -INITRD_ALIGNMENT;
            if (initrdAddress < kernelEnd) {
                throw new LinuxBootException(String.format("the initramfs (%d bytes) does not fit between the kernel's"
                        + " end at 0x%x and 0x%x; give the VM more memory or use a smaller initramfs", initrdSize,
                        kernelEnd, top));
            }
        }

        switch (kernel) {
            case BzImage bz -> copy(memory, image, bz.payloadOffset(), BzImage.LOAD_ADDRESS, bz.payloadSize(), 0);
            case ElfKernel elf -> {
                for (ElfKernel.Segment s : elf.segments()) {
                    copy(memory, image, s.fileOffset(), s.physicalAddress(), s.fileSize(), s.memorySize());
                }
            }
        }
        if (initrd != null && initrdSize > 0) {
            memory.write(initrdAddress, initrd);
        }
        byte[] cmdlineZ = new byte[cmdline.length + 1];
        System.arraycopy(cmdline, 0, cmdlineZ, 0, cmdline.length);
        memory.write(X86Layout.CMDLINE_ADDR, cmdlineZ);
        memory.write(MpTable.ADDRESS, mpTable);
        memory.write(X86Layout.ZERO_PAGE_ADDR, ZeroPage.build(kernel, image, e820, X86Layout.CMDLINE_ADDR,
                cmdline.length, initrdAddress, initrdSize));
        BootState.X86LongMode boot = LongModeSetup.write(memory, kernel.entry(), X86Layout.ZERO_PAGE_ADDR,
                LongModeSetup.Privilege.KERNEL);
        return new Loaded(boot, kernel, initrdAddress, initrdSize, commandLine, e820);
    }

    /** Copies {@code fileSize} bytes of the image to {@code address} and zeroes up to {@code memSize}. */
    private static void copy(GuestMemory memory, MemorySegment image, long offset, long address, long fileSize,
            long memSize) {
        long total = Math.max(fileSize, memSize);
        MemorySegment dst = memory.slice(address, total);
        MemorySegment.copy(image, offset, dst, 0, fileSize);
        if (memSize > fileSize) {
            dst.asSlice(fileSize).fill((byte) 0);
        }
        memory.markDirty(address, total);
    }
}
