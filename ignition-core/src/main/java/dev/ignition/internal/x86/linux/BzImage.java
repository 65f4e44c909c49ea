package dev.ignition.internal.x86.linux;

import dev.ignition.guest.InvalidKernelImageException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A bzImage: real-mode setup sectors, whose setup header (at 0x1F1) describes the image, then
 * the protected-mode kernel, which is loaded at {@link #LOAD_ADDRESS} and entered at
 * {@code load + 0x200} by the 64-bit boot protocol. Offsets are those of Documentation/arch/x86/boot.rst.
 *
 * @param setupSectors number of 512-byte setup sectors after the boot sector (0 read as 4)
 * @param version boot protocol version, e.g. 0x020f
 * @param loadFlags {@code loadflags} (bit 0 LOADED_HIGH)
 * @param xloadFlags {@code xloadflags} (bit 0 XLF_KERNEL_64)
 * @param initrdAddrMax highest address the initrd may occupy
 * @param kernelAlignment physical alignment the kernel needs
 * @param relocatable whether the kernel may run at another address than {@code prefAddress}
 * @param cmdlineSize longest command line, without the NUL
 * @param prefAddress preferred load address of the decompressed kernel
 * @param initSize memory the kernel needs from its runtime start address while it boots
 * @param headerEnd file offset one past the setup header ({@code 0x202 + byte[0x201]})
 * @param payloadOffset file offset of the protected-mode kernel
 * @param payloadSize its size
 */
public record BzImage(int setupSectors, int version, int loadFlags, int xloadFlags, long initrdAddrMax,
        long kernelAlignment, boolean relocatable, int cmdlineSize, long prefAddress, long initSize, int headerEnd,
        long payloadOffset, long payloadSize) implements KernelImage {

    static final long SETUP_SECTS = 0x1f1;
    static final long BOOT_FLAG = 0x1fe;
    static final long JUMP = 0x200;
    static final long HEADER_MAGIC_OFFSET = 0x202;
    static final int HEADER_MAGIC = 0x5372_6448; // "HdrS"
    static final long VERSION = 0x206;
    static final long LOADFLAGS = 0x211;
    static final long INITRD_ADDR_MAX = 0x22c;
    static final long KERNEL_ALIGNMENT = 0x230;
    static final long RELOCATABLE_KERNEL = 0x234;
    static final long XLOADFLAGS = 0x236;
    static final long CMDLINE_SIZE = 0x238;
    static final long PREF_ADDRESS = 0x258;
    static final long INIT_SIZE = 0x260;
    /** One past the last setup-header field this loader reads. */
    static final int MIN_HEADER_END = 0x264;

    static final int LOADED_HIGH = 0x1;
    static final int XLF_KERNEL_64 = 0x1;
    /** The 64-bit boot protocol needs {@code xloadflags}, which came with 2.12. */
    static final int MIN_VERSION = 0x020c;
    /** Where the protected-mode kernel is loaded (code32_start); the kernel relocates itself from there. */
    public static final long LOAD_ADDRESS = 0x10_0000;
    /** The 64-bit entry point is this far into the protected-mode kernel. */
    static final long ENTRY_64_OFFSET = 0x200;

    /** Parses the setup header of {@code image}; see the class comment for what is checked. */
    public static BzImage parse(MemorySegment image, String name) {
        long size = image.byteSize();
        if (size < 0x400) {
            throw bad(name, "is only " + size + " bytes; a bzImage has at least a boot sector and one setup sector");
        }
        if (Short.toUnsignedInt(image.get(KernelImage.LE_SHORT, BOOT_FLAG)) != 0xaa55) {
            throw bad(name, "has no 0xAA55 boot flag at offset 0x1FE");
        }
        if (image.get(KernelImage.LE_INT, HEADER_MAGIC_OFFSET) != HEADER_MAGIC) {
            throw bad(name, "has no \"HdrS\" setup header at offset 0x202");
        }
        int version = u16(image, VERSION);
        if (version < MIN_VERSION) {
            throw bad(name, String.format("uses boot protocol %d.%02d; the 64-bit entry needs 2.12 or later "
                    + "(Linux 3.8+)", version >> 8, version & 0xff));
        }
        int setupSectors = u8(image, SETUP_SECTS);
        if (setupSectors == 0) {
            setupSectors = 4;
        }
        long payloadOffset = (setupSectors + 1L) * 512;
        int headerEnd = 0x202 + u8(image, JUMP + 1);
        if (headerEnd < MIN_HEADER_END || headerEnd > payloadOffset) {
            throw bad(name, "has a setup header ending at 0x" + Integer.toHexString(headerEnd)
                    + ", outside [0x264, 0x" + Long.toHexString(payloadOffset) + "]");
        }
        if (payloadOffset >= size) {
            throw bad(name, "is truncated: " + setupSectors + " setup sectors need " + payloadOffset
                    + " bytes before the kernel, but the file has " + size);
        }
        int loadFlags = u8(image, LOADFLAGS);
        if ((loadFlags & LOADED_HIGH) == 0) {
            throw bad(name, "is a zImage (loadflags.LOADED_HIGH clear); only bzImages load at 1 MiB");
        }
        int xloadFlags = u16(image, XLOADFLAGS);
        if ((xloadFlags & XLF_KERNEL_64) == 0) {
            throw bad(name, "has no 64-bit entry point (xloadflags.XLF_KERNEL_64 clear); is it a 32-bit kernel?");
        }
        long alignment = u32(image, KERNEL_ALIGNMENT);
        boolean relocatable = u8(image, RELOCATABLE_KERNEL) != 0;
        if (alignment == 0 || Long.bitCount(alignment) != 1 || alignment > (1L << 30)) {
            throw bad(name, "has an invalid kernel_alignment 0x" + Long.toHexString(alignment));
        }
        long prefAddress = image.get(KernelImage.LE_LONG, PREF_ADDRESS);
        long initSize = u32(image, INIT_SIZE);
        if (prefAddress < LOAD_ADDRESS || prefAddress >= (1L << 32)) {
            throw bad(name, "has pref_address 0x" + Long.toHexString(prefAddress) + " outside [1 MiB, 4 GiB)");
        }
        if (initSize == 0) {
            throw bad(name, "has init_size 0");
        }
        long payloadSize = size - payloadOffset;
        return new BzImage(setupSectors, version, loadFlags, xloadFlags, u32(image, INITRD_ADDR_MAX), alignment,
                relocatable, (int) Math.min(u32(image, CMDLINE_SIZE), Integer.MAX_VALUE), prefAddress, initSize,
                headerEnd, payloadOffset, payloadSize);
    }

    @Override
    public long entry() {
        return LOAD_ADDRESS + ENTRY_64_OFFSET;
    }

    /** Where the kernel decompresses and runs: pref_address, or above the load address when relocatable. */
    public long runtimeStart() {
        if (!relocatable) {
            return prefAddress;
        }
        long start = Math.max(LOAD_ADDRESS, prefAddress);
        return (start + kernelAlignment - 1) & -kernelAlignment;
    }

    @Override
    public long lowestAddress() {
        return Math.min(LOAD_ADDRESS, runtimeStart());
    }

    @Override
    public long highestAddress() {
        return Math.max(LOAD_ADDRESS + payloadSize, runtimeStart() + initSize);
    }

    @Override
    public long initrdAddressMax() {
        return initrdAddrMax;
    }

    @Override
    public int commandLineMax() {
        return cmdlineSize;
    }

    private static int u8(MemorySegment s, long off) {
        return Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, off));
    }

    private static int u16(MemorySegment s, long off) {
        return Short.toUnsignedInt(s.get(KernelImage.LE_SHORT, off));
    }

    private static long u32(MemorySegment s, long off) {
        return Integer.toUnsignedLong(s.get(KernelImage.LE_INT, off));
    }

    private static InvalidKernelImageException bad(String name, String what) {
        return new InvalidKernelImageException("bzImage " + name + " " + what);
    }
}
