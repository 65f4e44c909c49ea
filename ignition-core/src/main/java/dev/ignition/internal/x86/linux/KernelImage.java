package dev.ignition.internal.x86.linux;

import dev.ignition.guest.InvalidKernelImageException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** A parsed x86_64 Linux kernel image; {@link #parse} recognises the format by its magic. */
public sealed interface KernelImage permits BzImage, ElfKernel {
    ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Where execution starts, a guest-physical address entered in 64-bit mode. */
    long entry();

    /** The lowest guest-physical address the kernel occupies, at load time or after relocating itself. */
    long lowestAddress();

    /** One past the highest guest-physical address the kernel occupies while it boots. */
    long highestAddress();

    /** Highest address the initramfs may occupy (inclusive). */
    long initrdAddressMax();

    /** Longest command line the kernel accepts, without the terminating NUL. */
    int commandLineMax();

    /**
     * Parses {@code image}, naming it {@code name} in errors.
     *
     * @throws InvalidKernelImageException if it is neither a valid ELF vmlinux nor a bzImage
     */
    static KernelImage parse(MemorySegment image, String name) {
        long size = image.byteSize();
        if (size >= 4 && image.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), 0) == 0x7f454c46) {
            return ElfKernel.parse(image, name);
        }
        if (size >= BzImage.HEADER_MAGIC_OFFSET + 4
                && image.get(LE_INT, BzImage.HEADER_MAGIC_OFFSET) == BzImage.HEADER_MAGIC) {
            return BzImage.parse(image, name);
        }
        throw new InvalidKernelImageException(name + " is not a Linux kernel image: no ELF magic at offset 0 and no"
                + " \"HdrS\" boot header at offset 0x202 (" + size + " bytes). Use a vmlinux or a bzImage.");
    }
}
