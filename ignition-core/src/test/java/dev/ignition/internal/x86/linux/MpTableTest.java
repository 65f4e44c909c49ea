package dev.ignition.internal.x86.linux;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class MpTableTest {
    @Test
    void twoVcpuTableMatchesTheMpSpecLayoutByteForByte() {
        byte[] t = MpTable.build(2, 0x9fc00);
        ByteBuffer b = ByteBuffer.wrap(t).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(t).hasSize(16 + 44 + 2 * 20 + 8 + 8 + 24 * 8 + 2 * 8);
        // mpf_intel
        assertThat(ascii(t, 0, 4)).isEqualTo("_MP_");
        assertThat(b.getInt(4)).isEqualTo(0x9fc10);
        assertThat(t[8]).isEqualTo((byte) 1);
        assertThat(t[9]).isEqualTo((byte) 4);
        assertThat(sum(t, 0, 16)).isZero();
        assertThat(Arrays5.zero(t, 11, 16)).isTrue();
        // mpc_table
        assertThat(ascii(t, 16, 4)).isEqualTo("PCMP");
        assertThat(b.getShort(16 + 4)).isEqualTo((short) (t.length - 16));
        assertThat(t[16 + 6]).isEqualTo((byte) 4);
        assertThat(sum(t, 16, t.length - 16)).isZero();
        assertThat(ascii(t, 16 + 8, 8)).isEqualTo("IGNITION");
        assertThat(b.getShort(16 + 34)).isEqualTo((short) (2 + 1 + 1 + 24 + 2));
        assertThat(b.getInt(16 + 36)).isEqualTo(0xfee00000);
        // mpc_cpu x 2
        for (int i = 0; i < 2; i++) {
            int at = 60 + 20 * i;
            assertThat(t[at]).isEqualTo((byte) 0);
            assertThat(t[at + 1]).isEqualTo((byte) i);
            assertThat(t[at + 2]).isEqualTo((byte) 0x14);
            assertThat(t[at + 3]).isEqualTo((byte) (i == 0 ? 3 : 1));
            assertThat(b.getInt(at + 4)).isEqualTo(0x600);
            assertThat(b.getInt(at + 8)).isEqualTo(0x201);
            assertThat(b.getLong(at + 12)).isZero();
        }
        // mpc_bus
        assertThat(t[100]).isEqualTo((byte) 1);
        assertThat(t[101]).isEqualTo((byte) 0);
        assertThat(ascii(t, 102, 6)).isEqualTo("ISA   ");
        // mpc_ioapic: id = ncpu + 1
        assertThat(t[108]).isEqualTo((byte) 2);
        assertThat(t[109]).isEqualTo((byte) 3);
        assertThat(t[110]).isEqualTo((byte) 0x14);
        assertThat(t[111]).isEqualTo((byte) 1);
        assertThat(b.getInt(112)).isEqualTo(0xfec00000);
        // mpc_intsrc x 24: ISA irq n -> IOAPIC pin n
        for (int irq = 0; irq < 24; irq++) {
            int at = 116 + 8 * irq;
            assertThat(new byte[] {t[at], t[at + 1], t[at + 2], t[at + 3], t[at + 4], t[at + 5], t[at + 6], t[at + 7]})
                    .containsExactly(3, 0, 0, 0, 0, irq, 3, irq);
        }
        // mpc_lintsrc: ExtINT -> LINT0, NMI -> LINT1 (all CPUs)
        assertThat(Arrays.copyOfRange(t, 308, 316)).containsExactly(4, 3, 0, 0, 0, 0, 0, 0);
        assertThat(Arrays.copyOfRange(t, 316, 324)).containsExactly(4, 1, 0, 0, 0, 0, 0xff, 1);
    }

    @Property(tries = 60)
    void checksumsHoldForAnyCpuCount(@ForAll @IntRange(min = 1, max = 254) int vcpus) {
        byte[] t = MpTable.build(vcpus, 0x9fc00);
        assertThat(t).hasSize(MpTable.size(vcpus));
        assertThat(sum(t, 0, 16)).isZero();
        assertThat(sum(t, 16, t.length - 16)).isZero();
        assertThat(0x9fc00 + t.length).isLessThanOrEqualTo(0x100000);
    }

    private static int sum(byte[] t, int from, int len) {
        int s = 0;
        for (int i = from; i < from + len; i++) {
            s += t[i];
        }
        return s & 0xff;
    }

    private static String ascii(byte[] t, int from, int len) {
        return new String(t, from, len, StandardCharsets.US_ASCII);
    }

    private static final class Arrays5 {
        static boolean zero(byte[] t, int from, int to) {
            for (int i = from; i < to; i++) {
                if (t[i] != 0) {
                    return false;
                }
            }
            return true;
        }
    }
}
