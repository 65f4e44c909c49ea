package dev.ignition.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.guest.FreestandingGuest;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The example device's behaviour and state, and the hand-assembled guest's layout, on any host. */
class CustomDeviceTest {
    @Test
    void readsBackTheLastWrittenByteUpperCasedAndCountsThem() {
        CustomDevice.Shouter s = new CustomDevice.Shouter();
        s.write(0, 1, 'q');
        assertThat(s.read(0, 1)).isEqualTo('Q');
        s.write(0, 1, '!');
        assertThat(s.read(0, 1)).isEqualTo('!');
        s.write(0, 1, 0x1e1); // only the low byte counts, and only ASCII letters change
        assertThat(s.read(0, 1)).isEqualTo(0xe1);
        assertThat(s.converted()).isEqualTo(3);
    }

    @Test
    void itsStateSurvivesASaveAndRestore() {
        CustomDevice.Shouter a = new CustomDevice.Shouter();
        a.write(0, 1, 'x');
        a.read(0, 1);
        CustomDevice.Shouter b = new CustomDevice.Shouter();
        b.restoreState(a.saveState());
        assertThat(b.converted()).isEqualTo(1);
        assertThat(b.read(0, 1)).isEqualTo('X');
        assertThatThrownBy(() -> b.restoreState(new byte[3])).hasMessageContaining("must be 8 bytes, was 3");
    }

    @Test
    void theGuestCarriesItsMessageRightAfterItsCode() {
        FreestandingGuest g = CustomDevice.guest();
        byte[] code = g.code();
        byte[] msg = Arrays.copyOfRange(code, 33, code.length);
        assertThat(new String(msg, StandardCharsets.US_ASCII)).isEqualTo(CustomDevice.MESSAGE + "\0");
        // lea rsi, [rip + disp32]: the displacement is relative to the end of the 7-byte instruction at 1
        int disp = code[4] & 0xff;
        assertThat(8 + disp).isEqualTo(33);
        assertThat(g.loadAddress()).isEqualTo(g.entryAddress()).isEqualTo(0x10_0000);
    }
}
