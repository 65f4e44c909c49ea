package dev.ignition.internal.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.function.Consumer;

/** Hostile-input checks every typed state's decoder (or a device's restoreState) must pass. */
public final class HostileState {
    private HostileState() {}

    /**
     * Every truncation of {@code good} fails with a {@link CorruptStateException} whose message
     * starts with {@code context}; so does a byte appended, a record version one higher, and
     * another record's tag. Every single-byte corruption either decodes or fails the same way.
     */
    public static void assertRejectsCleanly(byte[] good, String context, Consumer<byte[]> decode) {
        decode.accept(good.clone());
        for (int n = 0; n < good.length; n++) {
            byte[] cut = Arrays.copyOf(good, n);
            assertThatThrownBy(() -> decode.accept(cut)).as("truncated to %d bytes", n)
                    .isInstanceOf(CorruptStateException.class).hasMessageStartingWith(context);
        }
        assertThatThrownBy(() -> decode.accept(Arrays.copyOf(good, good.length + 1)))
                .isInstanceOf(CorruptStateException.class).hasMessageContaining("trailing");
        byte[] newer = good.clone();
        newer[4]++;
        assertThatThrownBy(() -> decode.accept(newer)).isInstanceOf(UnsupportedStateVersionException.class)
                .hasMessageContaining("has version " + (newer[4] & 0xff) + "; this build reads");
        byte[] other = good.clone();
        other[0] ^= 0x20;
        assertThatThrownBy(() -> decode.accept(other)).isInstanceOf(CorruptStateException.class)
                .hasMessageContaining("expected a record");
        for (int i = 0; i < good.length; i++) {
            for (int x : new int[] {0x01, 0x80, 0xff}) {
                byte[] bad = good.clone();
                bad[i] ^= (byte) x;
                try {
                    decode.accept(bad);
                } catch (CorruptStateException expected) {
                    assertThat(expected.getMessage()).startsWith(context);
                }
            }
        }
    }
}
