package dev.ignition.internal.x86.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.guest.InvalidKernelImageException;
import dev.ignition.guest.LinuxBootException;
import dev.ignition.internal.x86.X86Layout;
import dev.ignition.memory.GuestMemory;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LinuxLoaderTest {
    static final long MIB = 1 << 20;

    @Test
    void bzImageZeroPageMatchesTheBootProtocolByteForByte() {
        byte[] image = Images.bzImage();
        byte[] initrd = new byte[10_000];
        Arrays.fill(initrd, (byte) 0x5a);
        try (GuestMemory mem = Images.memory(64 * MIB)) {
            LinuxLoader.Loaded loaded = LinuxLoader.load(mem, 2, MemorySegment.ofArray(image), "test", initrd,
                    "console=ttyS0 panic=1");
            long initrdAddr = (64 * MIB - 10_000) & ~4095L;
            assertThat(loaded.initrdAddress()).isEqualTo(initrdAddr);
            assertThat(loaded.boot().rip()).isEqualTo(0x100200);
            assertThat(loaded.boot().rsi()).isEqualTo(0x7000);
            assertThat(loaded.boot().rsp()).isEqualTo(0x8ff0);
            assertThat(loaded.boot().cr3()).isEqualTo(0x9000);

            ByteBuffer zp = ByteBuffer.wrap(mem.read(0x7000, 4096)).order(ByteOrder.LITTLE_ENDIAN);
            // Copied from the image's setup header [0x1F1, 0x26C).
            assertThat(zp.get(0x1f1)).isEqualTo((byte) 1);
            assertThat(zp.getShort(0x1fe)).isEqualTo((short) 0xaa55);
            assertThat(zp.get(0x201)).isEqualTo((byte) 0x6a);
            assertThat(zp.getInt(0x202)).isEqualTo(0x53726448);
            assertThat(zp.getShort(0x206)).isEqualTo((short) 0x020f);
            assertThat(zp.get(0x211)).isEqualTo((byte) 0x01);
            assertThat(zp.getInt(0x22c)).isEqualTo(0x7fffffff);
            assertThat(zp.getInt(0x230)).isEqualTo(0x200000);
            assertThat(zp.get(0x234)).isEqualTo((byte) 1);
            assertThat(zp.getShort(0x236)).isEqualTo((short) 3);
            assertThat(zp.getLong(0x258)).isEqualTo(0x1000000);
            assertThat(zp.getInt(0x260)).isEqualTo(0x800000);
            // Written by the loader.
            assertThat(zp.get(0x210)).isEqualTo((byte) 0xff);
            assertThat(zp.getInt(0x214)).isEqualTo(0x100000);
            assertThat(zp.getInt(0x218)).isEqualTo((int) initrdAddr);
            assertThat(zp.getInt(0x21c)).isEqualTo(10_000);
            assertThat(zp.getInt(0x228)).isEqualTo(0x20000);
            assertThat(zp.getInt(0x238)).isEqualTo("console=ttyS0 panic=1".length() + 1);
            assertThat(zp.getInt(0x0c0)).isZero();
            assertThat(zp.getInt(0x0c4)).isZero();
            assertThat(zp.getInt(0x0c8)).isZero();
            // e820: count at 0x1E8, 20-byte packed entries from 0x2D0.
            assertThat(zp.get(0x1e8)).isEqualTo((byte) 3);
            assertE820(zp, 0, 0, 0x9fc00, 1);
            assertE820(zp, 1, 0x9fc00, 0x100000 - 0x9fc00, 2);
            assertE820(zp, 2, 0x100000, 64 * MIB - 0x100000, 1);
            // Nothing else is set: everything outside the header and the fields above is zero.
            for (int off = 0; off < 4096; off++) {
                boolean header = off >= 0x1f1 && off < 0x26c;
                boolean e820 = off == 0x1e8 || (off >= 0x2d0 && off < 0x2d0 + 3 * 20);
                if (!header && !e820) {
                    assertThat(zp.get(off)).as("zero page byte 0x%x", off).isZero();
                }
            }

            assertThat(mem.read(0x100000, Images.PAYLOAD_SIZE))
                    .isEqualTo(Arrays.copyOfRange(image, 1024, 1024 + Images.PAYLOAD_SIZE));
            assertThat(mem.read(initrdAddr, initrd.length)).isEqualTo(initrd);
            assertThat(new String(mem.read(0x20000, 22), StandardCharsets.US_ASCII)).isEqualTo("console=ttyS0 panic=1\0");
            assertThat(new String(mem.read(0x9fc00, 4), StandardCharsets.US_ASCII)).isEqualTo("_MP_");
            // GDT and page tables from LongModeSetup.
            assertThat(mem.readLong(0x508)).isEqualTo(0x00af_9b00_0000_ffffL);
            assertThat(mem.readLong(0x9000)).isEqualTo(0xa003);
            assertThat(mem.readLong(0xb000 + 8)).isEqualTo((1L << 21) | 0x83);
        }
    }

    @Test
    void elfSegmentsGoToTheirPhysicalAddressesAndBssIsZeroed() {
        byte[] image = Images.elf();
        try (GuestMemory mem = Images.memory(64 * MIB)) {
            mem.slice(0x1000000, 0x1000).fill((byte) 0xee);
            LinuxLoader.Loaded loaded = LinuxLoader.load(mem, 1, MemorySegment.ofArray(image), "vmlinux", null, "");
            assertThat(loaded.boot().rip()).isEqualTo(0x1000040);
            assertThat(mem.read(0x1000000, 0x400)).isEqualTo(Arrays.copyOfRange(image, 0x1000, 0x1400));
            assertThat(mem.read(0x1000400, 0x400)).containsOnly((byte) 0);
            assertThat(mem.readByte(0x1000800)).isEqualTo((byte) 0xee);
            assertThat(mem.read(0x1100000, 0x100)).isEqualTo(Arrays.copyOfRange(image, 0x1800, 0x1900));
            assertThat(loaded.initrdAddress()).isZero();

            ByteBuffer zp = ByteBuffer.wrap(mem.read(0x7000, 4096)).order(ByteOrder.LITTLE_ENDIAN);
            assertThat(zp.get(0x1f1)).isZero();
            assertThat(zp.getShort(0x1fe)).isEqualTo((short) 0xaa55);
            assertThat(zp.getInt(0x202)).isEqualTo(0x53726448);
            assertThat(zp.get(0x210)).isEqualTo((byte) 0xff);
            assertThat(zp.getInt(0x214)).isZero();
            assertThat(zp.getInt(0x218)).isZero();
            assertThat(zp.getInt(0x21c)).isZero();
            assertThat(zp.getInt(0x228)).isEqualTo(0x20000);
            assertThat(zp.getInt(0x230)).isEqualTo(0x1000000);
            assertThat(zp.getInt(0x238)).isEqualTo(1);
            assertThat(mem.readByte(0x20000)).isZero();
        }
    }

    @Test
    void ramAboveTheMmioGapBecomesASecondE820RamEntry() {
        assertThatThrownBy(() -> E820.forRanges(List.of(new X86Layout.Range(0x200000, 1 << 24))))
                .isInstanceOf(LinuxBootException.class).hasMessageContaining("needs RAM from address 0 past 1 MiB");
        // 4 GiB of RAM, laid out as a VM gets it: 3 GiB below the MMIO gap, 1 GiB from 4 GiB.
        assertThat(E820.forRanges(X86Layout.ramRanges(4L << 30))).containsExactly(
                new E820.Entry(0, 0x9fc00, E820.RAM),
                new E820.Entry(0x9fc00, 0x60400, E820.RESERVED),
                new E820.Entry(0x100000, 0xc000_0000L - 0x100000, E820.RAM),
                new E820.Entry(0x1_0000_0000L, 1L << 30, E820.RAM));
    }

    @Test
    void refusesWhatDoesNotFitAndWritesNothing() {
        byte[] image = Images.bzImage();
        try (GuestMemory mem = Images.memory(16 * MIB)) {
            // pref_address 16 MiB + init_size 8 MiB does not fit in 16 MiB.
            assertThatThrownBy(() -> LinuxLoader.load(mem, 1, MemorySegment.ofArray(image), "k", null, ""))
                    .isInstanceOf(LinuxBootException.class)
                    .hasMessageContaining("needs RAM at [0x100000, 0x1800000)")
                    .hasMessageContaining("give the VM more memory");
            assertThat(mem.read(0x7000, 4096)).containsOnly((byte) 0);
            assertThat(mem.read(0x100000, 4096)).containsOnly((byte) 0);
        }
        try (GuestMemory mem = Images.memory(32 * MIB)) {
            byte[] big = new byte[(int) (9 * MIB)];
            assertThatThrownBy(() -> LinuxLoader.load(mem, 1, MemorySegment.ofArray(image), "k", big, ""))
                    .isInstanceOf(LinuxBootException.class).hasMessageContaining("initramfs (9437184 bytes) does not fit");
            assertThatThrownBy(() -> LinuxLoader.load(mem, 1, MemorySegment.ofArray(image), "k", null, "x".repeat(2048)))
                    .isInstanceOf(LinuxBootException.class).hasMessageContaining("2048 bytes; k accepts at most 2047");
            assertThatThrownBy(() -> LinuxLoader.load(mem, 255, MemorySegment.ofArray(image), "k", null, ""))
                    .isInstanceOf(LinuxBootException.class).hasMessageContaining("1 to 254 vCPUs");
            assertThat(mem.read(0x7000, 4096)).containsOnly((byte) 0);
        }
    }

    @Test
    void fileErrorsNameTheFile(@TempDir Path dir) throws Exception {
        try (GuestMemory mem = Images.memory(32 * MIB)) {
            assertThatThrownBy(() -> LinuxLoader.load(mem, 1, dir.resolve("nope"), null, ""))
                    .isInstanceOf(InvalidKernelImageException.class).hasMessageContaining("nope does not exist");
            Path empty = Files.createFile(dir.resolve("empty"));
            assertThatThrownBy(() -> LinuxLoader.load(mem, 1, empty, null, ""))
                    .isInstanceOf(InvalidKernelImageException.class).hasMessageContaining("is empty");
            Path text = Files.writeString(dir.resolve("text"), "hello, not a kernel".repeat(100));
            assertThatThrownBy(() -> LinuxLoader.load(mem, 1, text, null, ""))
                    .isInstanceOf(InvalidKernelImageException.class).hasMessageContaining("is not a Linux kernel image");
            Path bz = Files.write(dir.resolve("bz"), Images.bzImage());
            assertThat(LinuxLoader.load(mem, 1, bz, null, "").boot().rip()).isEqualTo(0x100200);
        }
    }

    private static void assertE820(ByteBuffer zp, int index, long addr, long size, int type) {
        int at = 0x2d0 + 20 * index;
        assertThat(zp.getLong(at)).as("e820[%d].addr", index).isEqualTo(addr);
        assertThat(zp.getLong(at + 8)).as("e820[%d].size", index).isEqualTo(size);
        assertThat(zp.getInt(at + 16)).as("e820[%d].type", index).isEqualTo(type);
    }

    @Test
    void virtioDevicesAreDeclaredOnTheCommandLineInOrder() {
        String line = LinuxLoader.withVirtioDevices("console=ttyS0 pci=off ", List.of(
                new LinuxLoader.VirtioMmioDevice(0xc000_1000L, 0x1000, 5),
                new LinuxLoader.VirtioMmioDevice(0xc000_2000L, 0x200, 6)));
        assertThat(line).isEqualTo("console=ttyS0 pci=off virtio_mmio.device=4K@0xc0001000:5"
                + " virtio_mmio.device=512@0xc0002000:6");
        assertThat(LinuxLoader.withVirtioDevices("", List.of(new LinuxLoader.VirtioMmioDevice(0xc000_1000L,
                0x1000, 5)))).isEqualTo("virtio_mmio.device=4K@0xc0001000:5");
        assertThat(LinuxLoader.withVirtioDevices("quiet", List.of())).isEqualTo("quiet");
    }
}
