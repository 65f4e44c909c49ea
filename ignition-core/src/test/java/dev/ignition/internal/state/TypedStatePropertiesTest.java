package dev.ignition.internal.state;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.internal.arm64.Pl011;
import dev.ignition.internal.device.Uart16550;
import dev.ignition.internal.virtio.VirtioMmio;
import dev.ignition.internal.virtio.Virtqueue;
import java.util.function.Function;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Every built-in device's typed state round-trips through the encoding for any value in range,
 * and any corruption of its bytes either decodes or fails with a CorruptStateException.
 */
class TypedStatePropertiesTest {
    private static Arbitrary<Integer> bits(int max) {
        return Arbitraries.integers().between(0, max);
    }

    private static Arbitrary<byte[]> rx(int max) {
        return Arbitraries.bytes().array(byte[].class).ofMaxSize(max);
    }

    @Provide
    Arbitrary<Uart16550.State> uarts() {
        return Combinators.combine(bits(0x0f), bits(0xff), bits(0x1f), bits(0xff), bits(0xff), bits(0xff),
                        Arbitraries.of(true, false), Arbitraries.of(true, false))
                .flatAs((ier, lcr, mcr, scr, dll, dlm, fifo, irq) -> rx(64)
                        .map(b -> new Uart16550.State(ier, lcr, mcr, scr, dll, dlm, fifo, irq, b)));
    }

    @Provide
    Arbitrary<Pl011.State> pl011s() {
        return Combinators.combine(bits(0xffff), bits(0x3f), bits(0xff), bits(0xffff), bits(0x3f), bits(0x7ff),
                        bits(0x7ff), bits(7))
                .flatAs((ibrd, fbrd, lcr, cr, ifls, imsc, ris, dmacr) -> Combinators.combine(bits(0xff),
                                Arbitraries.of(true, false), rx(300))
                        .as((ilpr, high, b) -> new Pl011.State(ibrd, fbrd, lcr, cr, ifls, imsc, ris, dmacr, ilpr, high, b)));
    }

    @Provide
    Arbitrary<VirtioMmio.State> transports() {
        Arbitrary<Virtqueue.State> queue = Combinators.combine(Arbitraries.integers(), Arbitraries.of(true, false),
                Arbitraries.longs(), Arbitraries.longs(), Arbitraries.longs(), bits(0xffff), bits(0xffff))
                .as(Virtqueue.State::new);
        Arbitrary<Integer> status = Arbitraries.of(0, 1, 3, 0xb, 0xf, 0x4f, 0x8f, 0xcf);
        return Combinators.combine(status, Arbitraries.integers(), Arbitraries.integers(), Arbitraries.integers(),
                        bits(3), Arbitraries.longs(), Arbitraries.integers(), Arbitraries.of(true, false))
                .flatAs((st, dfs, drfs, qs, isr, f, gen, high) -> queue.list().ofMaxSize(4)
                        .map(q -> new VirtioMmio.State(st, dfs, drfs, qs, isr, f, gen, high, q)));
    }

    @Property(tries = 300)
    void uartStateRoundTrips(@ForAll("uarts") Uart16550.State s, @ForAll int at, @ForAll byte x) {
        roundTripsAndFailsCleanly(s, s.encode(), b -> Uart16550.State.decode(b, "uart"), at, x);
    }

    @Property(tries = 300)
    void pl011StateRoundTrips(@ForAll("pl011s") Pl011.State s, @ForAll int at, @ForAll byte x) {
        roundTripsAndFailsCleanly(s, s.encode(), b -> Pl011.State.decode(b, "pl011"), at, x);
    }

    @Property(tries = 300)
    void transportStateRoundTrips(@ForAll("transports") VirtioMmio.State s, @ForAll int at, @ForAll byte x) {
        roundTripsAndFailsCleanly(s, s.encode(), b -> VirtioMmio.State.decode(b, "virtio"), at, x);
    }

    private static <S> void roundTripsAndFailsCleanly(S s, byte[] encoded, Function<byte[], S> decode, int at, byte x) {
        assertThat(decode.apply(encoded)).isEqualTo(s);
        byte[] bad = encoded.clone();
        bad[Math.floorMod(at, bad.length)] ^= (byte) (x == 0 ? 1 : x);
        try {
            decode.apply(bad);
        } catch (CorruptStateException expected) {
            assertThat(expected.getMessage()).isNotBlank();
        }
    }
}
