package dev.ignition.internal.virtio;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.IgnitionException;
import dev.ignition.device.Disk;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VirtioSlotsTest {
    @TempDir Path dir;

    @Test
    void disksComeFirstThenTheRngInConsecutiveSlots() throws Exception {
        Path a = Files.write(dir.resolve("a.img"), new byte[4096]);
        Path b = Files.write(dir.resolve("b.img"), new byte[1024]);
        List<VirtioMmio> x86 = VirtioSlots.create(false, List.of(Disk.of(a), Disk.of(b).asReadOnly()), true, null);
        try {
            assertThat(x86).extracting(VirtioMmio::name).containsExactly("virtio-blk@0xc0001000",
                    "virtio-blk@0xc0002000", "virtio-rng@0xc0003000");
            assertThat(x86).extracting(VirtioMmio::irq).containsExactly(5, 6, 7);
            assertThat(x86).extracting(VirtioMmio::length).containsOnly(0x1000L);
            assertThat(((VirtioBlk) x86.get(0).model()).capacitySectors()).isEqualTo(8);
        } finally {
            x86.forEach(VirtioMmio::close);
        }
        List<VirtioMmio> arm = VirtioSlots.create(true, List.of(), true, 3L);
        assertThat(arm).extracting(VirtioMmio::name).containsExactly("virtio-rng@0xa000000", "virtio-vsock@0xa000200");
        assertThat(arm.getFirst().irq()).isEqualTo(16);
    }

    @Test
    void aDiskThatCannotBeOpenedFailsNamingIt() throws Exception {
        Path a = Files.write(dir.resolve("a.img"), new byte[4096]);
        Path missing = dir.resolve("nope.img");
        Assertions.assertThatThrownBy(
                () -> VirtioSlots.create(false, List.of(Disk.of(a), Disk.of(missing)), false, null))
                .isInstanceOf(IgnitionException.class).hasMessageContaining("nope.img");
    }
}
