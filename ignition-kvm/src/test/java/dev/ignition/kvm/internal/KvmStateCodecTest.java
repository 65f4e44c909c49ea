package dev.ignition.kvm.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.IgnitionException;
import java.nio.BufferUnderflowException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** The KVM state container: its byte format, round trips, and hostile blobs. */
class KvmStateCodecTest {
    @Test
    void theByteFormatIsMagicVersionThenTaggedRecords() {
        byte[] encoded = new KvmStateCodec(KvmStateCodec.Kind.VCPU)
                .put("ab", new byte[] {1, 2, 3})
                .put("c", new byte[0])
                .encode();
        assertThat(HexFormat.of().formatHex(encoded)).isEqualTo(
                "494b4356" + "01000000" // "IKCV", version 1
                        + "0200" + "6162" + "03000000" + "010203"
                        + "0100" + "63" + "00000000");
        assertThat(HexFormat.of().formatHex(new KvmStateCodec(KvmStateCodec.Kind.VM).encode()))
                .isEqualTo("494b564d01000000");
    }

    @Provide
    Arbitrary<Map<String, byte[]>> records() {
        return Arbitraries.maps(
                Arbitraries.strings().withCharRange('a', 'z').ofMinLength(1).ofMaxLength(64),
                Arbitraries.bytes().array(byte[].class).ofMaxSize(600)).ofMaxSize(12);
    }

    @Property(tries = 200)
    void recordsRoundTrip(@ForAll("records") Map<String, byte[]> records) {
        KvmStateCodec c = new KvmStateCodec(KvmStateCodec.Kind.VM);
        records.forEach(c::put);
        KvmStateCodec back = KvmStateCodec.decode(KvmStateCodec.Kind.VM, c.encode());
        for (Map.Entry<String, byte[]> e : records.entrySet()) {
            assertThat(back.get(e.getKey(), e.getValue().length)).isEqualTo(e.getValue());
        }
        assertThat(back.encode()).isEqualTo(c.encode());
    }

    @Property(tries = 200)
    void aTruncatedBlobYieldsAPrefixOfItsRecordsOrAnIgnitionException(@ForAll("records") Map<String, byte[]> records,
                                                     @ForAll @IntRange(min = 0, max = 10_000) int cut) {
        KvmStateCodec c = new KvmStateCodec(KvmStateCodec.Kind.VCPU);
        records.forEach(c::put);
        byte[] full = c.encode();
        int length = cut % full.length;
        byte[] prefix = Arrays.copyOf(full, length);
        // A prefix may end on a record boundary and decode to fewer records; it must never fail otherwise.
        try {
            KvmStateCodec partial = KvmStateCodec.decode(KvmStateCodec.Kind.VCPU, prefix);
            for (Map.Entry<String, byte[]> e : records.entrySet()) {
                if (partial.has(e.getKey())) {
                    assertThat(partial.get(e.getKey(), -1)).isEqualTo(e.getValue());
                }
            }
        } catch (IgnitionException expected) {
            assertThat(expected.getMessage()).contains("KVM VCPU state blob");
        }
    }

    @Property(tries = 500)
    void flippedOrRandomBytesFailOnlyWithIgnitionException(@ForAll("records") Map<String, byte[]> records,
                                                          @ForAll @IntRange(min = 0, max = 100_000) int at,
                                                          @ForAll byte xor) {
        KvmStateCodec c = new KvmStateCodec(KvmStateCodec.Kind.VM);
        records.forEach(c::put);
        byte[] b = c.encode();
        b[at % b.length] ^= xor;
        try {
            KvmStateCodec.decode(KvmStateCodec.Kind.VM, b);
        } catch (IgnitionException expected) {
            assertThat(expected.getMessage()).contains("KVM VM state");
        }
    }

    @Test
    void aBlobOfTheOtherKindIsRefusedByItsMagic() {
        byte[] vm = new KvmStateCodec(KvmStateCodec.Kind.VM).put("pit2", new byte[4]).encode();
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VCPU, vm))
                .isInstanceOf(IgnitionException.class).hasMessage("not a KVM VCPU state blob (magic 0x4d564b49)");
    }

    @Test
    void anotherFormatVersionIsRefusedByNumber() {
        byte[] b = new KvmStateCodec(KvmStateCodec.Kind.VCPU).encode();
        b[4] = 2;
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VCPU, b)).isInstanceOf(IgnitionException.class)
                .hasMessage("KVM VCPU state format version 2 is not supported (this build reads version 1)");
    }

    @Test
    void truncationKeepsItsCause() {
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VM, new byte[] {0x49, 0x4b}))
                .isInstanceOf(IgnitionException.class).hasMessage("KVM VM state blob is truncated")
                .hasCauseInstanceOf(BufferUnderflowException.class);
    }

    @Test
    void corruptLengthsAndDuplicatesAreNamed() {
        byte[] good = new KvmStateCodec(KvmStateCodec.Kind.VM).put("clock", new byte[] {9, 9}).encode();
        byte[] zeroTag = good.clone();
        zeroTag[8] = 0;
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VM, zeroTag))
                .hasMessage("KVM VM state blob is corrupt (tag length 0)");
        byte[] longTag = good.clone();
        longTag[8] = 65;
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VM, longTag))
                .hasMessage("KVM VM state blob is corrupt (tag length 65)");
        byte[] hugeRecord = good.clone();
        hugeRecord[8 + 2 + 5 + 3] = (byte) 0x80; // length 0x80000002: negative as int
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VM, hugeRecord))
                .hasMessage("KVM VM state blob is truncated in record 'clock'");
        byte[] twice = new byte[good.length + good.length - 8];
        System.arraycopy(good, 0, twice, 0, good.length);
        System.arraycopy(good, 8, twice, good.length, good.length - 8);
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VM, twice))
                .hasMessage("KVM VM state blob is corrupt (record 'clock' twice)");
    }

    @Test
    void recordsAreCheckedForPresenceAndLength() {
        KvmStateCodec c = KvmStateCodec.decode(KvmStateCodec.Kind.VCPU,
                new KvmStateCodec(KvmStateCodec.Kind.VCPU).put("regs", new byte[143]).encode());
        assertThatThrownBy(() -> c.get("regs", 144)).isInstanceOf(IgnitionException.class)
                .hasMessage("KVM VCPU state 'regs' has 143 bytes, expected 144");
        assertThatThrownBy(() -> c.get("sregs", 312)).isInstanceOf(IgnitionException.class)
                .hasMessage("KVM VCPU state lacks 'sregs'");
        assertThat(c.get("regs", -1)).hasSize(143);
    }
}
