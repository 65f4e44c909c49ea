package dev.ignition.internal.arm64;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ignition.guest.InvalidKernelImageException;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class Arm64ImageTest {
    /** A header as the kernel's head.S lays it out, followed by {@code body} bytes. */
    static byte[] image(long textOffset, long imageSize, long flags, int body) {
        ByteBuffer b = ByteBuffer.allocate(64 + body).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, 0x91005a4d); // "MZ" + add x13, x18, #0x16 (EFI stub's code0)
        b.putInt(4, 0x14000000);
        b.putLong(8, textOffset);
        b.putLong(16, imageSize);
        b.putLong(24, flags);
        b.putInt(56, 0x644d5241);
        b.putInt(60, 0x40);
        return b.array();
    }

    @Test
    void parsesTheHeader() {
        Arm64Image i = Arm64Image.parse(image(0, 0x20_0000, 0b1100, 4096));
        assertThat(i.textOffset()).isZero();
        assertThat(i.imageSize()).isEqualTo(0x20_0000);
        assertThat(i.pageSize()).isEqualTo(16384);
        assertThat(i.placeAnywhere()).isTrue();
        assertThat(Arm64Image.parse(image(0x8_0000, 0x20_0000, 0b0010, 0)).pageSize()).isEqualTo(4096);
        assertThat(Arm64Image.parse(image(0, 0x20_0000, 0b0110, 0)).pageSize()).isEqualTo(65536);
        assertThat(Arm64Image.parse(image(0, 0x20_0000, 0, 0)).pageSize()).isZero();
    }

    @Test
    void legacyImagesWithoutSizeUseTheOldTextOffset() {
        Arm64Image i = Arm64Image.parse(image(0, 0, 0, 100));
        assertThat(i.textOffset()).isEqualTo(0x8_0000);
        assertThat(i.imageSize()).isEqualTo(164);
    }

    @Test
    void rejectsWhatIsNotAnArm64ImageSayingWhatItIs() {
        assertThatThrownBy(() -> Arm64Image.parse(new byte[] {0x1f, (byte) 0x8b, 8, 0}))
                .isInstanceOf(InvalidKernelImageException.class).hasMessageContaining("gzip");
        assertThatThrownBy(() -> Arm64Image.parse(new byte[] {0x7f, 'E', 'L', 'F', 2, 1}))
                .hasMessageContaining("vmlinux");
        assertThatThrownBy(() -> Arm64Image.parse(new byte[10])).hasMessageContaining("shorter than the 64-byte");
        byte[] x86 = image(0, 0x20_0000, 0, 0);
        x86[56] = 'H';
        assertThatThrownBy(() -> Arm64Image.parse(x86)).hasMessageContaining("magic");
        assertThatThrownBy(() -> Arm64Image.parse(image(0, 0x20_0000, 1, 0))).hasMessageContaining("big-endian");
        assertThatThrownBy(() -> Arm64Image.parse(image(0x20_0000, 0x20_0000, 0, 0))).hasMessageContaining("text_offset");
        assertThatThrownBy(() -> Arm64Image.parse(image(0, 10, 0, 100))).hasMessageContaining("image_size");
    }

    @Test
    void randomBytesNeverEscapeAsAnythingButKernelImageException() {
        Random rnd = new Random(7);
        for (int n = 0; n < 5000; n++) {
            byte[] b = image(rnd.nextLong() & 0x1f_f000, rnd.nextLong(), rnd.nextLong(), rnd.nextInt(64));
            for (int k = 0; k < 4; k++) {
                b[rnd.nextInt(b.length)] = (byte) rnd.nextInt();
            }
            try {
                Arm64Image i = Arm64Image.parse(b);
                assertThat(i.imageSize()).isGreaterThanOrEqualTo(b.length);
            } catch (InvalidKernelImageException expected) {
                // fine
            }
        }
    }

    @Test
    void loadPlacesKernelInitrdAndDeviceTreePerTheBootProtocol() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            long ram = 64L << 20;
            GuestMemory mem = new GuestMemory(List.of(new MemoryRegion(Arm64Layout.RAM_BASE, arena.allocate(ram, 16384))),
                    16384, () -> {});
            byte[] kernel = image(0, 0x30_0000, 0b1100, 8000);
            kernel[100] = 42;
            byte[] initrd = new byte[123_457];
            initrd[0] = 7;
            Arm64Boot.Loaded l = Arm64Boot.load(mem, kernel, initrd, "console=ttyAMA0", 1,
                    Arm64DeviceTree.Gic.standard(1, 11), List.of(0));
            assertThat(l.kernelAddress()).isEqualTo(Arm64Layout.RAM_BASE);
            assertThat(l.boot().pc()).isEqualTo(Arm64Layout.RAM_BASE);
            assertThat(l.boot().x0()).isEqualTo(l.dtbAddress());
            assertThat(l.dtbAddress() % Arm64Image.BASE_ALIGNMENT).isZero();
            assertThat(l.dtbAddress()).isEqualTo(Arm64Layout.RAM_BASE + ram - Arm64Boot.MAX_DTB_SIZE);
            assertThat(l.initrdEnd() - l.initrdStart()).isEqualTo(initrd.length);
            assertThat(l.initrdEnd()).isLessThanOrEqualTo(l.dtbAddress());
            assertThat(l.initrdStart()).isGreaterThanOrEqualTo(l.kernelAddress() + l.image().imageSize());
            assertThat(mem.readByte(l.kernelAddress() + 100)).isEqualTo((byte) 42);
            assertThat(mem.readByte(l.initrdStart())).isEqualTo((byte) 7);
            assertThat(mem.readInt(l.dtbAddress())).isEqualTo(Integer.reverseBytes(0xd00dfeed));
            String dts = Dtc.decompile(mem.read(l.dtbAddress(), l.dtb().length)).dts();
            assertThat(dts).contains(String.format("linux,initrd-start = <0x00 0x%x>;", l.initrdStart()))
                    .contains(String.format("linux,initrd-end = <0x00 0x%x>;", l.initrdEnd()));
            // Everything written was recorded as host-dirty for snapshots.
            assertThat(mem.drainHostDirty(0)[0] & 1).isEqualTo(1);
        }
    }

    @Test
    void tooLittleRamSaysHowMuchIsNeeded() {
        Arm64Image img = Arm64Image.parse(image(0, 30L << 20, 0, 0));
        assertThatThrownBy(() -> Arm64Boot.place(Arm64Layout.RAM_BASE, 32L << 20, img, 1 << 20))
                .isInstanceOf(InvalidKernelImageException.class).hasMessageContaining("at least 36 MiB");
    }

    @Test
    void parsesTheCrossBuiltGuestKernelWhenPresent() throws Exception {
        String dir = System.getenv("IGNITION_ARM64_GUEST");
        assumeTrue(dir != null && Files.exists(Path.of(dir, "Image")),
                "set IGNITION_ARM64_GUEST to the directory guests/arm64/build.sh printed");
        Arm64Image i = Arm64Image.parse(Files.readAllBytes(Path.of(dir, "Image")));
        assertThat(i.pageSize()).isEqualTo(16384);
        assertThat(i.textOffset()).isZero();
        assertThat(i.imageSize()).isGreaterThan(i.fileSize());
    }
}
