package dev.ignition.internal.virtio;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.internal.virtio.VirtioDriver.Buf;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import org.junit.jupiter.api.Test;

class VirtioRngTest {
    static SecureRandom seeded() throws NoSuchAlgorithmException {
        SecureRandom r = SecureRandom.getInstance("SHA1PRNG");
        r.setSeed(42); // before first use: the generator is then deterministic
        return r;
    }

    @Test
    void fillsTheWritableBuffersWithTheGeneratorsBytes() throws Exception {
        try (VirtioDriver d = new VirtioDriver(new VirtioRng(seeded())).start(1, 8)) {
            long a = d.alloc(40);
            long b = d.alloc(24);
            int head = d.submit(0, new Buf(a, 40, true), new Buf(b, 24, true));

            byte[] expected = new byte[64];
            seeded().nextBytes(expected);
            byte[] got = new byte[64];
            System.arraycopy(d.memory.read(a, 40), 0, got, 0, 40);
            System.arraycopy(d.memory.read(b, 24), 0, got, 40, 24);
            assertThat(got).isEqualTo(expected);
            assertThat(d.usedIdx(0)).isEqualTo(1);
            assertThat(d.usedElem(0, 0)).containsExactly(head, 64);
            assertThat(d.reg(VirtioMmio.INTERRUPT_STATUS)).isEqualTo(VirtioMmio.INT_USED_BUFFER);
            assertThat(d.lineLevels).containsExactly(true);
            assertThat(d.needsReset()).isFalse();
        }
    }

    @Test
    void servesAtMost64KiBPerRequestHoweverLargeTheBuffer() throws Exception {
        try (VirtioDriver d = new VirtioDriver(new VirtioRng(seeded())).start(1, 8)) {
            long a = d.alloc(1 << 20);
            d.submit(0, new Buf(a, 1 << 20, true));
            assertThat(d.usedElem(0, 0)[1]).isEqualTo(VirtioRng.MAX_PER_REQUEST);
            byte[] tail = d.memory.read(a + VirtioRng.MAX_PER_REQUEST, 4096);
            assertThat(tail).containsOnly((byte) 0);
        }
    }
}
