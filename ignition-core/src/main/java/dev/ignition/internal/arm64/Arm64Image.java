package dev.ignition.internal.arm64;

import dev.ignition.guest.InvalidKernelImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The 64-byte header of a Linux arm64 {@code Image} (Documentation/arch/arm64/booting.rst):
 * {@code code0, code1, text_offset, image_size, flags, res2..res4, magic "ARM\x64", res5}, all
 * little-endian.
 *
 * @param textOffset offset from a 2 MiB aligned base at which the image must be placed
 * @param imageSize bytes from the load address the kernel uses (text, data and BSS)
 * @param flags bit 0 big-endian kernel, bits 1-2 kernel page size, bit 3 placement anywhere
 * @param fileSize bytes in the image file
 */
public record Arm64Image(long textOffset, long imageSize, long flags, long fileSize) {
    public static final int HEADER_SIZE = 64;
    public static final int MAGIC = 0x644d5241;
    /** Alignment of the base the text offset is counted from. */
    public static final long BASE_ALIGNMENT = 2L << 20;
    /** Text offset assumed for kernels older than 3.17, whose image_size is 0. */
    static final long LEGACY_TEXT_OFFSET = 0x80000;

    /** Kernel page size from the header: 0 when unspecified, else 4096, 16384 or 65536. */
    public int pageSize() {
        return switch ((int) ((flags >>> 1) & 3)) {
            case 1 -> 4096;
            case 2 -> 16384;
            case 3 -> 65536;
            default -> 0;
        };
    }

    /** Whether the kernel accepts any 2 MiB aligned base in RAM (flags bit 3). */
    public boolean placeAnywhere() {
        return (flags & 8) != 0;
    }

    /**
     * Parses and validates the header of {@code image}.
     *
     * @throws InvalidKernelImageException naming what the bytes look like when they are no arm64 Image
     */
    public static Arm64Image parse(byte[] image) {
        if (image.length >= 2 && (image[0] & 0xff) == 0x1f && (image[1] & 0xff) == 0x8b) {
            throw new InvalidKernelImageException("kernel is gzip-compressed (Image.gz): pass the uncompressed "
                    + "arch/arm64/boot/Image, or gunzip it first");
        }
        if (image.length >= 4 && image[0] == 0x7f && image[1] == 'E' && image[2] == 'L' && image[3] == 'F') {
            throw new InvalidKernelImageException("kernel is an ELF file (vmlinux): pass arch/arm64/boot/Image instead");
        }
        if (image.length < HEADER_SIZE) {
            throw new InvalidKernelImageException("kernel image is " + image.length
                    + " bytes, shorter than the 64-byte arm64 Image header");
        }
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        int magic = b.getInt(56);
        if (magic != MAGIC) {
            throw new InvalidKernelImageException(String.format(
                    "not an arm64 Linux Image: magic at offset 56 is 0x%08x, expected 0x%08x (\"ARM\\x64\")",
                    magic, MAGIC));
        }
        long textOffset = b.getLong(8);
        long imageSize = b.getLong(16);
        long flags = b.getLong(24);
        if (imageSize == 0) {
            textOffset = LEGACY_TEXT_OFFSET;
            imageSize = image.length;
        }
        if ((flags & 1) != 0) {
            throw new InvalidKernelImageException("kernel is built big-endian (Image flags bit 0); Ignition boots "
                    + "little-endian arm64 kernels only");
        }
        if (textOffset < 0 || textOffset >= BASE_ALIGNMENT || textOffset % 4096 != 0) {
            throw new InvalidKernelImageException("implausible arm64 Image text_offset 0x" + Long.toHexString(textOffset));
        }
        if (imageSize < image.length || imageSize > (1L << 32)) {
            throw new InvalidKernelImageException("arm64 Image header image_size " + imageSize
                    + " is smaller than the file (" + image.length + " bytes) or larger than 4 GiB");
        }
        return new Arm64Image(textOffset, imageSize, flags, image.length);
    }
}
