package dev.ignition.internal.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class StateEncodingTest {
    private static byte[] sample() {
        return new StateWriter(8).begin("TEST", 3).u8(0xfe).u16(0xbeef).u32(-2).u64(Long.MIN_VALUE + 5).bool(true)
                .bytes(new byte[] {1, 2, 3}).string("größe").longs(new long[] {7, -1}).ints(new int[] {9})
                .beginRecord("SUB ", 1).u32(42).end()
                .list(2).u8(1).u8(2)
                .end().toByteArray();
    }

    @Test
    void everyFieldTypeRoundTrips() {
        StateReader r = StateReader.open(sample(), "test", "TEST", 1, 3);
        assertThat(r.version()).isEqualTo(3);
        assertThat(r.u8("a")).isEqualTo(0xfe);
        assertThat(r.u16("b")).isEqualTo(0xbeef);
        assertThat(r.u32("c")).isEqualTo(-2);
        assertThat(r.u64("d")).isEqualTo(Long.MIN_VALUE + 5);
        assertThat(r.bool("e")).isTrue();
        assertThat(r.bytes("f", 3)).containsExactly(1, 2, 3);
        assertThat(r.string("g", 100)).isEqualTo("größe");
        assertThat(r.longs("h", 2)).containsExactly(7, -1);
        assertThat(r.ints("i", 1)).containsExactly(9);
        StateReader sub = r.record("sub", "SUB ", 1);
        assertThat(sub.u32("x")).isEqualTo(42);
        sub.end();
        assertThat(r.list("l", 2, 2)).isEqualTo(2);
        assertThat(r.u8("l0")).isEqualTo(1);
        assertThat(r.u8("l1")).isEqualTo(2);
        r.end();
    }

    @Test
    void theLayoutIsTheSpecifiedOne() {
        byte[] b = new StateWriter().begin("UART", 1).u8(7).u32(0x01020304).end().toByteArray();
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(new String(b, 0, 4, StandardCharsets.US_ASCII)).isEqualTo("UART");
        assertThat(bb.getShort(4)).isEqualTo((short) 1);
        assertThat(bb.getInt(6)).isEqualTo(2 + 5);
        assertThat(Arrays.copyOfRange(b, 10, b.length)).containsExactly(1, 7, 3, 4, 3, 2, 1);
    }

    @Test
    void everyTruncationFailsCleanlyNamingTheField() {
        byte[] full = sample();
        for (int n = 0; n < full.length; n++) {
            byte[] cut = Arrays.copyOf(full, n);
            assertThatThrownBy(() -> readAll(cut)).as("cut at %d", n).isInstanceOf(CorruptStateException.class)
                    .hasMessageStartingWith("test: ");
        }
        assertThatThrownBy(() -> readAll(Arrays.copyOf(full, full.length + 1)))
                .isInstanceOf(CorruptStateException.class).hasMessageContaining("1 trailing bytes");
    }

    @Test
    void everySingleByteCorruptionFailsCleanlyOrDecodes() {
        byte[] full = sample();
        for (int i = 0; i < full.length; i++) {
            for (int x : new int[] {0x01, 0x80, 0xff}) {
                byte[] bad = full.clone();
                bad[i] ^= (byte) x;
                try {
                    readAll(bad);
                } catch (CorruptStateException expected) {
                    // the only failure a decoder may let out
                }
            }
        }
    }

    @Test
    void aWrongTagVersionOrTypeIsNamed() {
        byte[] b = sample();
        assertThatThrownBy(() -> StateReader.open(b, "dev 'x'", "UART", 1))
                .isInstanceOf(CorruptStateException.class).hasMessage("dev 'x': expected a record 'UART', found 'TEST'");
        assertThatThrownBy(() -> StateReader.open(b, "dev 'x'", "TEST", 1, 2))
                .isInstanceOfSatisfying(UnsupportedStateVersionException.class, e -> {
                    assertThat(e.found()).isEqualTo(3);
                    assertThat(e.supported()).isEqualTo(2);
                })
                .hasMessage("dev 'x': record 'TEST' has version 3; this build reads versions 1 to 2");
        StateReader r = StateReader.open(b, "dev 'x'", "TEST", 3);
        assertThatThrownBy(() -> r.u64("ier")).isInstanceOfSatisfying(CorruptStateException.class, e -> {
            assertThat(e.record()).isEqualTo("TEST");
            assertThat(e.field()).isEqualTo("ier");
        }).hasMessage("dev 'x': record 'TEST' v3, field 'ier': expected a u64, found u8");
    }

    @Test
    void lengthsAreCheckedBeforeAllocating() {
        byte[] b = new StateWriter().begin("TEST", 1).bytes(new byte[10]).end().toByteArray();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(11, Integer.MAX_VALUE - 1);
        assertThatThrownBy(() -> StateReader.open(b, "t", "TEST", 1).bytes("blob", Integer.MAX_VALUE))
                .isInstanceOf(CorruptStateException.class).hasMessageContaining("truncated");
        byte[] ok = new StateWriter().begin("TEST", 1).bytes(new byte[10]).end().toByteArray();
        assertThatThrownBy(() -> StateReader.open(ok, "t", "TEST", 1).bytes("blob", 9))
                .hasMessageContaining("field 'blob': holds 10 elements, at most 9 allowed");
        byte[] list = new StateWriter().begin("TEST", 1).list(1_000_000).end().toByteArray();
        assertThatThrownBy(() -> StateReader.open(list, "t", "TEST", 1).list("queues", 2_000_000, 12))
                .hasMessageContaining("only 0 bytes remain");
        byte[] longs = new StateWriter().begin("TEST", 1).longs(new long[2]).end().toByteArray();
        ByteBuffer.wrap(longs).order(ByteOrder.LITTLE_ENDIAN).putInt(11, 1 << 29);
        assertThatThrownBy(() -> StateReader.open(longs, "t", "TEST", 1).longs("x", Integer.MAX_VALUE))
                .isInstanceOf(CorruptStateException.class).hasMessageContaining("truncated");
    }

    @Test
    void aRecordLengthPastItsParentIsRefused() {
        byte[] b = new StateWriter().begin("TEST", 1).beginRecord("SUB ", 1).u8(1).end().u8(2).end().toByteArray();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(10 + 1 + 6, 100);
        assertThatThrownBy(() -> StateReader.open(b, "t", "TEST", 1).record("sub", "SUB ", 1))
                .isInstanceOf(CorruptStateException.class).hasMessageContaining("declares 100 bytes");
    }

    @Test
    void unreadFieldsAndBadValuesAreRefused() {
        byte[] b = new StateWriter().begin("TEST", 1).u32(5).bool(false).end().toByteArray();
        StateReader r = StateReader.open(b, "t", "TEST", 1);
        assertThatThrownBy(() -> r.u32("n", 0, 4)).hasMessage("t: record 'TEST' v1, field 'n': 5 is out of range [0, 4]");
        StateReader r2 = StateReader.open(b, "t", "TEST", 1);
        r2.u32("n");
        assertThatThrownBy(r2::end).hasMessageContaining("2 unread bytes");
        byte[] bool = b.clone();
        bool[bool.length - 1] = 2;
        StateReader r3 = StateReader.open(bool, "t", "TEST", 1);
        r3.u32("n");
        assertThatThrownBy(() -> r3.bool("flag")).hasMessageContaining("a boolean must be 0 or 1, found 2");
        byte[] utf = new StateWriter().begin("TEST", 1).bytes(new byte[] {(byte) 0xc3}).end().toByteArray();
        utf[10] = StateWriter.STRING;
        assertThatThrownBy(() -> StateReader.open(utf, "t", "TEST", 1).string("name", 10))
                .hasMessageContaining("not valid UTF-8");
    }

    @Test
    void theWriterRefusesMisuse() {
        assertThatThrownBy(() -> new StateWriter().begin("TOOLONG", 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new StateWriter().u8(1)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> new StateWriter().begin("TEST", 1).toByteArray())
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> new StateWriter().begin("TEST", 1).u8(256)).isInstanceOf(IllegalArgumentException.class);
    }

    private static void readAll(byte[] b) {
        StateReader r = StateReader.open(b, "test", "TEST", 3);
        r.u8("a");
        r.u16("b");
        r.u32("c");
        r.u64("d");
        r.bool("e");
        r.bytes("f", 3);
        r.string("g", 100);
        r.longs("h", 2);
        r.ints("i", 1);
        StateReader sub = r.record("sub", "SUB ", 1);
        sub.u32("x");
        sub.end();
        int n = r.list("l", 2, 2);
        for (int i = 0; i < n; i++) {
            r.u8("l" + i);
        }
        r.end();
    }
}
