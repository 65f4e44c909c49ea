package dev.ignition.kvm.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.IgnitionException;
import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.StateReader;
import dev.ignition.internal.state.StateWriter;
import dev.ignition.internal.state.UnsupportedStateVersionException;
import java.util.Arrays;
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
    void theFormatIsOneRecordOfTheSharedEncodingWithAListOfNamedSections() {
        byte[] encoded = new KvmStateCodec(KvmStateCodec.Kind.VCPU)
                .put("ab", new byte[] {1, 2, 3})
                .put("c", new byte[0])
                .encode();
        StateReader r = StateReader.open(encoded, "test", "KVCP", 2);
        assertThat(r.list("sections", 10, 1)).isEqualTo(2);
        assertThat(r.string("name", 64)).isEqualTo("ab");
        assertThat(r.bytes("value", 64)).containsExactly(1, 2, 3);
        assertThat(r.string("name", 64)).isEqualTo("c");
        assertThat(r.bytes("value", 64)).isEmpty();
        r.end();
        StateReader vm = StateReader.open(new KvmStateCodec(KvmStateCodec.Kind.VM).encode(), "test", "KVVM", 2);
        assertThat(vm.list("sections", 10, 1)).isZero();
        vm.end();
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
    void everyTruncationIsRefusedNamingTheBlob(@ForAll("records") Map<String, byte[]> records,
                                               @ForAll @IntRange(min = 0, max = 10_000) int cut) {
        KvmStateCodec c = new KvmStateCodec(KvmStateCodec.Kind.VCPU);
        records.forEach(c::put);
        byte[] full = c.encode();
        byte[] prefix = Arrays.copyOf(full, cut % full.length);
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VCPU, prefix))
                .isInstanceOf(CorruptStateException.class).hasMessageStartingWith("KVM VCPU state");
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
    void aBlobOfTheOtherKindIsRefusedByItsTag() {
        byte[] vm = new KvmStateCodec(KvmStateCodec.Kind.VM).put("pit2", new byte[4]).encode();
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VCPU, vm))
                .isInstanceOf(CorruptStateException.class)
                .hasMessage("KVM VCPU state: expected a record 'KVCP', found 'KVVM'");
    }

    @Test
    void anotherFormatVersionIsRefusedByNumber() {
        byte[] b = new KvmStateCodec(KvmStateCodec.Kind.VCPU).encode();
        b[4] = 1; // the u16 version follows the 4-byte tag
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VCPU, b))
                .isInstanceOf(UnsupportedStateVersionException.class)
                .hasMessage("KVM VCPU state: record 'KVCP' has version 1; this build reads version 2");
    }

    @Test
    void aTwoByteBlobIsRefusedAsTruncated() {
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VM, new byte[] {0x4b, 0x56}))
                .isInstanceOf(CorruptStateException.class).hasMessageContaining("truncated");
    }

    @Test
    void badSectionNamesAndDuplicatesAreNamed() {
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VM, sections("", "ok")))
                .hasMessageContaining("field 'section name': empty");
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VM, sections("x".repeat(65))))
                .hasMessageContaining("field 'section name'").hasMessageContaining("at most 64");
        assertThatThrownBy(() -> KvmStateCodec.decode(KvmStateCodec.Kind.VM, sections("clock", "clock")))
                .hasMessageContaining("field 'clock': appears twice");
    }

    private static byte[] sections(String... names) {
        StateWriter w = new StateWriter().begin("KVVM", 2).list(names.length);
        for (String n : names) {
            w.string(n).bytes(new byte[] {9, 9});
        }
        return w.end().toByteArray();
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
