package dev.ignition.internal.x86.linux;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * {@code struct boot_params}, the 4 KiB "zero page" the kernel finds through RSI at its 64-bit
 * entry. Offsets are from arch/x86/include/uapi/asm/bootparam.h (checked against Linux 6.1).
 */
public final class ZeroPage {
    public static final int SIZE = 4096;

    public static final int EXT_RAMDISK_IMAGE = 0x0c0;
    public static final int EXT_RAMDISK_SIZE = 0x0c4;
    public static final int EXT_CMD_LINE_PTR = 0x0c8;
    public static final int E820_ENTRIES = 0x1e8;
    public static final int HDR = 0x1f1;
    public static final int BOOT_FLAG = 0x1fe;
    public static final int HEADER = 0x202;
    public static final int TYPE_OF_LOADER = 0x210;
    public static final int CODE32_START = 0x214;
    public static final int RAMDISK_IMAGE = 0x218;
    public static final int RAMDISK_SIZE = 0x21c;
    public static final int CMD_LINE_PTR = 0x228;
    public static final int KERNEL_ALIGNMENT = 0x230;
    public static final int CMDLINE_SIZE = 0x238;
    /** sizeof(struct setup_header) = 123: the header occupies [0x1F1, 0x26C). */
    public static final int HDR_END = 0x26c;
    public static final int E820_TABLE = 0x2d0;

    /** "undefined" boot loader id: tells the kernel a loader filled the header (needed for the initrd). */
    static final int LOADER_UNDEFINED = 0xff;
    /** kernel_alignment written for ELF kernels, which carry no setup header (as Firecracker does). */
    static final int ELF_KERNEL_ALIGNMENT = 0x100_0000;

    private ZeroPage() {}

    /**
     * Builds the zero page.
     *
     * @param kernel the parsed kernel
     * @param image the kernel file, whose setup header is copied for a bzImage
     * @param e820 the memory map
     * @param cmdlineAddress where the NUL-terminated command line is
     * @param cmdlineLength its length without the NUL
     * @param initrdAddress where the initrd is (ignored when {@code initrdSize} is 0)
     * @param initrdSize its size, 0 for none
     */
    public static byte[] build(KernelImage kernel, MemorySegment image, List<E820.Entry> e820, long cmdlineAddress,
            int cmdlineLength, long initrdAddress, long initrdSize) {
        if (e820.size() > E820.MAX_ENTRIES) {
            throw new IllegalArgumentException("too many e820 entries: " + e820.size());
        }
        if (cmdlineAddress >= (1L << 32) || initrdAddress + initrdSize > (1L << 32)) {
            throw new IllegalArgumentException("command line and initrd must lie below 4 GiB");
        }
        byte[] page = new byte[SIZE];
        ByteBuffer b = ByteBuffer.wrap(page).order(ByteOrder.LITTLE_ENDIAN);
        switch (kernel) {
            case BzImage bz -> {
                int end = Math.min(bz.headerEnd(), HDR_END);
                MemorySegment.copy(image, ValueLayout.JAVA_BYTE, HDR, page, HDR, end - HDR);
                b.putInt(CODE32_START, (int) BzImage.LOAD_ADDRESS);
            }
            case ElfKernel _ -> {
                b.putShort(BOOT_FLAG, (short) 0xaa55);
                b.putInt(HEADER, BzImage.HEADER_MAGIC);
                b.putInt(KERNEL_ALIGNMENT, ELF_KERNEL_ALIGNMENT);
            }
        }
        b.put(TYPE_OF_LOADER, (byte) LOADER_UNDEFINED);
        b.putInt(CMD_LINE_PTR, (int) cmdlineAddress);
        // What Firecracker writes; the 64-bit kernel copies up to its own COMMAND_LINE_SIZE.
        b.putInt(CMDLINE_SIZE, cmdlineLength + 1);
        if (initrdSize > 0) {
            b.putInt(RAMDISK_IMAGE, (int) initrdAddress);
            b.putInt(RAMDISK_SIZE, (int) initrdSize);
        }
        b.put(E820_ENTRIES, (byte) e820.size());
        for (int i = 0; i < e820.size(); i++) {
            E820.Entry e = e820.get(i);
            int at = E820_TABLE + i * E820.ENTRY_SIZE;
            b.putLong(at, e.address());
            b.putLong(at + 8, e.size());
            b.putInt(at + 16, e.type());
        }
        return page;
    }
}
