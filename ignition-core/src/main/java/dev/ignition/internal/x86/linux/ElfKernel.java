package dev.ignition.internal.x86.linux;

import dev.ignition.guest.InvalidKernelImageException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * An uncompressed x86_64 {@code vmlinux}: an ELF64 executable whose PT_LOAD segments go to their
 * physical addresses and whose {@code e_entry} is the physical 64-bit entry point
 * ({@code phys_startup_64}).
 *
 * @param entry {@code e_entry}
 * @param segments PT_LOAD segments with data, sorted by physical address, not overlapping
 */
public record ElfKernel(long entry, List<Segment> segments) implements KernelImage {
    /**
     * One PT_LOAD segment.
     *
     * @param fileOffset where its bytes start in the image
     * @param fileSize how many bytes come from the image
     * @param physicalAddress {@code p_paddr}
     * @param memorySize {@code p_memsz}; bytes past {@code fileSize} are zeroed
     */
    public record Segment(long fileOffset, long fileSize, long physicalAddress, long memorySize) {
        long end() {
            return physicalAddress + memorySize;
        }
    }

    static final int EHDR_SIZE = 64;
    static final int PHDR_SIZE = 56;
    static final int ELFCLASS64 = 2;
    static final int ELFDATA2LSB = 1;
    static final int ET_EXEC = 2;
    static final int ET_DYN = 3;
    static final int EM_X86_64 = 62;
    static final int PT_LOAD = 1;
    /** Highest physical address a segment may reach: the boot page tables map the first 4 GiB. */
    static final long MAX_PHYSICAL = 1L << 32;
    /** Default command-line limit for kernels without a setup header to say otherwise (COMMAND_LINE_SIZE - 1). */
    static final int CMDLINE_MAX = 2047;
    /** Linux's own default initrd_addr_max for protocol 2.03+. */
    static final long INITRD_ADDR_MAX = 0x7fff_ffffL;
    private static final long HIMEM_START = 0x10_0000;

    public ElfKernel {
        segments = List.copyOf(segments);
    }

    /** Parses and validates the ELF and program headers of {@code image}. */
    public static ElfKernel parse(MemorySegment image, String name) {
        long size = image.byteSize();
        if (size < EHDR_SIZE) {
            throw bad(name, "is truncated: " + size + " bytes, less than an ELF64 header");
        }
        if (u8(image, 4) != ELFCLASS64) {
            throw bad(name, "is not a 64-bit ELF (EI_CLASS " + u8(image, 4) + ")");
        }
        if (u8(image, 5) != ELFDATA2LSB) {
            throw bad(name, "is not little-endian (EI_DATA " + u8(image, 5) + ")");
        }
        int type = u16(image, 16);
        if (type != ET_EXEC && type != ET_DYN) {
            throw bad(name, "is not an executable (e_type " + type + ")");
        }
        int machine = u16(image, 18);
        if (machine != EM_X86_64) {
            throw bad(name, "is not for x86_64 (e_machine " + machine + ")");
        }
        long entry = image.get(KernelImage.LE_LONG, 24);
        long phoff = image.get(KernelImage.LE_LONG, 32);
        int phentsize = u16(image, 54);
        int phnum = u16(image, 56);
        if (phentsize != PHDR_SIZE) {
            throw bad(name, "has e_phentsize " + phentsize + ", expected " + PHDR_SIZE);
        }
        if (phnum == 0 || phnum == 0xffff) {
            throw bad(name, "has no program headers (e_phnum " + phnum + ")");
        }
        if (phoff < EHDR_SIZE || phoff > size || (size - phoff) / PHDR_SIZE < phnum) {
            throw bad(name, "has program headers outside the file (e_phoff " + phoff + ", " + phnum
                    + " entries, file " + size + " bytes)");
        }
        List<Segment> segments = new ArrayList<>();
        for (int i = 0; i < phnum; i++) {
            long ph = phoff + (long) i * PHDR_SIZE;
            if (image.get(KernelImage.LE_INT, ph) != PT_LOAD) {
                continue;
            }
            long offset = image.get(KernelImage.LE_LONG, ph + 8);
            long paddr = image.get(KernelImage.LE_LONG, ph + 24);
            long filesz = image.get(KernelImage.LE_LONG, ph + 32);
            long memsz = image.get(KernelImage.LE_LONG, ph + 40);
            String which = "PT_LOAD #" + i;
            if (Long.compareUnsigned(filesz, memsz) > 0) {
                throw bad(name, which + " has p_filesz " + filesz + " > p_memsz " + memsz);
            }
            if (offset < 0 || filesz < 0 || offset > size || filesz > size - offset) {
                throw bad(name, which + " [file offset " + offset + ", " + filesz + " bytes] lies outside the "
                        + size + "-byte file (truncated image?)");
            }
            if (memsz == 0) {
                continue;
            }
            if (paddr < HIMEM_START || memsz < 0 || paddr >= MAX_PHYSICAL || memsz > MAX_PHYSICAL - paddr) {
                throw bad(name, which + " wants physical [0x" + Long.toHexString(paddr) + ", +0x"
                        + Long.toHexString(memsz) + "), outside [1 MiB, 4 GiB)");
            }
            segments.add(new Segment(offset, filesz, paddr, memsz));
        }
        if (segments.isEmpty()) {
            throw bad(name, "has no PT_LOAD segment with contents");
        }
        segments.sort(Comparator.comparingLong(Segment::physicalAddress));
        for (int i = 1; i < segments.size(); i++) {
            if (segments.get(i).physicalAddress() < segments.get(i - 1).end()) {
                throw bad(name, "has overlapping PT_LOAD segments at physical 0x"
                        + Long.toHexString(segments.get(i).physicalAddress()));
            }
        }
        boolean entryInside = segments.stream()
                .anyMatch(s -> entry >= s.physicalAddress() && entry < s.physicalAddress() + s.fileSize());
        if (!entryInside) {
            throw bad(name, "has entry point 0x" + Long.toHexString(entry) + " outside every loaded segment's"
                    + " physical range (a vmlinux's e_entry must be the physical phys_startup_64)");
        }
        return new ElfKernel(entry, segments);
    }

    @Override
    public long lowestAddress() {
        return segments.getFirst().physicalAddress();
    }

    @Override
    public long highestAddress() {
        return segments.getLast().end();
    }

    @Override
    public long initrdAddressMax() {
        return INITRD_ADDR_MAX;
    }

    @Override
    public int commandLineMax() {
        return CMDLINE_MAX;
    }

    private static int u8(MemorySegment s, long off) {
        return Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, off));
    }

    private static int u16(MemorySegment s, long off) {
        return Short.toUnsignedInt(s.get(KernelImage.LE_SHORT, off));
    }

    private static InvalidKernelImageException bad(String name, String what) {
        return new InvalidKernelImageException("ELF kernel " + name + " " + what);
    }
}
