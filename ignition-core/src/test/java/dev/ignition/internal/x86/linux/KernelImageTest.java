package dev.ignition.internal.x86.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.guest.InvalidKernelImageException;
import dev.ignition.memory.GuestMemory;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class KernelImageTest {
    @Test
    void parsesTheSyntheticBzImageHeader() {
        BzImage bz = (BzImage) KernelImage.parse(MemorySegment.ofArray(Images.bzImage()), "bz");
        assertThat(bz.version()).isEqualTo(0x020f);
        assertThat(bz.setupSectors()).isEqualTo(1);
        assertThat(bz.payloadOffset()).isEqualTo(1024);
        assertThat(bz.payloadSize()).isEqualTo(Images.PAYLOAD_SIZE);
        assertThat(bz.headerEnd()).isEqualTo(0x26c);
        assertThat(bz.entry()).isEqualTo(0x100200);
        assertThat(bz.runtimeStart()).isEqualTo(0x1000000);
        assertThat(bz.highestAddress()).isEqualTo(0x1800000);
        assertThat(bz.initrdAddressMax()).isEqualTo(0x7fffffff);
        assertThat(bz.commandLineMax()).isEqualTo(2047);
    }

    @Test
    void bzImageHeaderProblemsAreNamed() {
        assertBadBz(b -> b.putShort(0x206, (short) 0x0206), "boot protocol 2.06; the 64-bit entry needs 2.12");
        assertBadBz(b -> b.putShort(0x236, (short) 0), "no 64-bit entry point");
        assertBadBz(b -> b.put(0x211, (byte) 0), "zImage");
        assertBadBz(b -> b.putShort(0x1fe, (short) 0), "no 0xAA55 boot flag");
        assertBadBz(b -> b.put(0x1f1, (byte) 40), "is truncated: 40 setup sectors need 20992 bytes");
        assertBadBz(b -> b.put(0x201, (byte) 0x10), "setup header ending at 0x212");
        assertBadBz(b -> b.putInt(0x230, 3), "invalid kernel_alignment 0x3");
        assertBadBz(b -> b.putLong(0x258, 0x1000), "pref_address 0x1000 outside");
        assertBadBz(b -> b.putInt(0x260, 0), "init_size 0");
        assertThatThrownBy(() -> KernelImage.parse(MemorySegment.ofArray(Arrays.copyOf(Images.bzImage(), 0x300)), "bz"))
                .isInstanceOf(InvalidKernelImageException.class).hasMessageContaining("only 768 bytes");
    }

    @Test
    void elfProblemsAreNamed() {
        assertBadElf(b -> b.put(4, (byte) 1), "not a 64-bit ELF");
        assertBadElf(b -> b.putShort(18, (short) 183), "not for x86_64 (e_machine 183)");
        assertBadElf(b -> b.putShort(16, (short) 1), "not an executable");
        assertBadElf(b -> b.putShort(54, (short) 32), "e_phentsize 32");
        assertBadElf(b -> b.putShort(56, (short) 200), "program headers outside the file");
        assertBadElf(b -> b.putLong(24, 0xffffffff81000040L), "entry point 0xffffffff81000040 outside");
        assertBadElf(b -> b.putLong(64 + 8, 0x1f00), "lies outside the 8192-byte file");
        assertBadElf(b -> b.putLong(64 + 24, 0x1000), "outside [1 MiB, 4 GiB)");
        assertBadElf(b -> b.putLong(64 + 112 + 24, 0x1000400), "overlapping PT_LOAD");
        assertBadElf(b -> b.putLong(64 + 32, 0x900), "p_filesz 2304 > p_memsz 2048");
        assertBadElf(b -> {
            b.putInt(64, 4);
            b.putInt(64 + 112, 4);
        }, "no PT_LOAD segment");
    }

    @Property(tries = 400)
    void everyPrefixOfAnImageParsesOrIsRejectedCleanly(@ForAll boolean elf, @ForAll @IntRange(min = 0, max = 9300) int cut) {
        byte[] full = elf ? Images.elf() : Images.bzImage();
        byte[] prefix = Arrays.copyOf(full, Math.min(cut, full.length));
        parsesOrRejects(prefix);
    }

    @Property(tries = 1000)
    void corruptedHeadersParseOrAreRejectedCleanly(@ForAll boolean elf,
            @ForAll @Size(min = 1, max = 8) int[] positions, @ForAll @Size(min = 8, max = 8) byte[] values) {
        byte[] image = elf ? Images.elf() : Images.bzImage();
        int headerBytes = elf ? 64 + 3 * 56 : 0x400;
        for (int i = 0; i < positions.length; i++) {
            image[Math.floorMod(positions[i], headerBytes)] = values[i];
        }
        parsesOrRejects(image);
    }

    @Property(tries = 300)
    void randomBytesAreRejectedCleanly(@ForAll @Size(max = 2048) byte[] bytes) {
        parsesOrRejects(bytes);
    }

    /** A parse either succeeds with a consistent result or throws InvalidKernelImageException: nothing else. */
    private static void parsesOrRejects(byte[] bytes) {
        KernelImage k;
        try {
            k = KernelImage.parse(MemorySegment.ofArray(bytes), "fuzz");
        } catch (InvalidKernelImageException e) {
            assertThat(e.getMessage()).contains("fuzz");
            return;
        }
        assertThat(k.lowestAddress()).isGreaterThanOrEqualTo(0x100000);
        assertThat(k.highestAddress()).isGreaterThan(k.lowestAddress());
        if (k instanceof ElfKernel e) {
            for (ElfKernel.Segment s : e.segments()) {
                assertThat(s.fileOffset() + s.fileSize()).isLessThanOrEqualTo(bytes.length);
            }
        } else if (k instanceof BzImage bz) {
            assertThat(bz.payloadOffset() + bz.payloadSize()).isEqualTo(bytes.length);
        }
    }

    @Test
    void parsesAndLoadsRealBzImages() throws Exception {
        List<Path> images = Images.realBzImages();
        Assumptions.assumeFalse(images.isEmpty(), Images.NO_IMAGE);
        for (Path path : images) {
            parseAndLoadRealBzImage(path);
        }
    }

    private static void parseAndLoadRealBzImage(Path path) throws Exception {
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(path)) {
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            BzImage bz = (BzImage) KernelImage.parse(file, path.toString());
            assertThat(bz.version()).isGreaterThanOrEqualTo(0x020c);
            assertThat(bz.xloadFlags() & 1).isEqualTo(1);
            assertThat(bz.payloadOffset() + bz.payloadSize()).isEqualTo(ch.size());
            assertThat(bz.prefAddress()).isGreaterThanOrEqualTo(0x100000);
            assertThat(bz.initSize()).isGreaterThan(bz.payloadSize());
            long ram = Math.max(256L << 20, (bz.highestAddress() + (64L << 20)) & -(2L << 20));
            try (GuestMemory mem = Images.memory(ram)) {
                LinuxLoader.Loaded loaded = LinuxLoader.load(mem, 2, path, new byte[] {1, 2, 3}, "console=ttyS0");
                assertThat(loaded.boot().rip()).isEqualTo(0x100200);
                // The payload is in place, byte for byte.
                int n = (int) Math.min(bz.payloadSize(), 1 << 20);
                byte[] expected = new byte[n];
                MemorySegment.copy(file, ValueLayout.JAVA_BYTE, bz.payloadOffset(), expected, 0, n);
                assertThat(mem.read(0x100000, n)).isEqualTo(expected);
                // The zero page holds the file's setup header except the fields the loader owns.
                byte[] zp = mem.read(0x7000, 4096);
                int end = Math.min(bz.headerEnd(), 0x26c);
                for (int off = 0x1f1; off < end; off++) {
                    boolean patched = off == 0x210 || (off >= 0x214 && off < 0x220) || (off >= 0x228 && off < 0x22c)
                            || (off >= 0x238 && off < 0x23c);
                    if (!patched) {
                        assertThat(zp[off]).as("zero page byte 0x%x", off).isEqualTo(file.get(ValueLayout.JAVA_BYTE, off));
                    }
                }
                assertThat(ByteBuffer.wrap(zp).order(ByteOrder.LITTLE_ENDIAN).getInt(0x218))
                        .isEqualTo((int) loaded.initrdAddress());
            }
        }
    }

    @Test
    void parsesAndLoadsARealVmlinux() throws Exception {
        Path path = Images.realVmlinux().orElse(null);
        Assumptions.assumeTrue(path != null, Images.NO_IMAGE);
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(path)) {
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            ElfKernel elf = (ElfKernel) KernelImage.parse(file, path.toString());
            // CONFIG_PHYSICAL_START defaults to 16 MiB; e_entry is phys_startup_64 inside the first segment.
            assertThat(elf.lowestAddress()).isEqualTo(0x1000000);
            assertThat(elf.entry()).isBetween(elf.lowestAddress(), elf.segments().getFirst().physicalAddress()
                    + elf.segments().getFirst().fileSize() - 1);
            try (GuestMemory mem = Images.memory(256L << 20)) {
                LinuxLoader.Loaded loaded = LinuxLoader.load(mem, 1, path, null, "console=ttyS0");
                ElfKernel.Segment first = elf.segments().getFirst();
                byte[] expected = new byte[4096];
                MemorySegment.copy(file, ValueLayout.JAVA_BYTE, first.fileOffset(), expected, 0, 4096);
                assertThat(mem.read(first.physicalAddress(), 4096)).isEqualTo(expected);
                assertThat(loaded.boot().rip()).isEqualTo(elf.entry());
            }
        }
    }

    private static void assertBadBz(Consumer<ByteBuffer> mutate, String message) {
        byte[] image = Images.bzImage();
        mutate.accept(ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN));
        assertThatThrownBy(() -> KernelImage.parse(MemorySegment.ofArray(image), "bz"))
                .isInstanceOf(InvalidKernelImageException.class).hasMessageContaining("bzImage bz")
                .hasMessageContaining(message);
    }

    private static void assertBadElf(Consumer<ByteBuffer> mutate, String message) {
        byte[] image = Images.elf();
        mutate.accept(ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN));
        assertThatThrownBy(() -> KernelImage.parse(MemorySegment.ofArray(image), "vmlinux"))
                .isInstanceOf(InvalidKernelImageException.class).hasMessageContaining("ELF kernel vmlinux")
                .hasMessageContaining(message);
    }
}
