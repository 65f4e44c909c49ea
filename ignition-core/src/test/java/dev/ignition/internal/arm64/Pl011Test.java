package dev.ignition.internal.arm64;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.device.DeviceContext;
import dev.ignition.device.InterruptLine;
import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.HostileState;
import dev.ignition.memory.GuestMemory;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class Pl011Test {
    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    final List<Boolean> line = new ArrayList<>();
    final Pl011 uart = new Pl011(Arm64Layout.UART_BASE, Arm64Layout.UART_SPI, out);

    Pl011Test() {
        uart.attach(new DeviceContext() {
            public GuestMemory memory() {
                throw new UnsupportedOperationException();
            }

            public InterruptLine interruptLine(int irq) {
                assertThat(irq).isEqualTo(Arm64Layout.UART_SPI);
                return line::add;
            }

            public long nanosSinceStart() {
                return 0;
            }
        });
    }

    @Test
    void transmitsAndIdentifiesAsAPrimeCellPl011() {
        for (byte b : "ok\n".getBytes()) {
            uart.write(Pl011.DR, 4, b);
        }
        assertThat(out.toString()).isEqualTo("ok\n");
        assertThat(uart.read(Pl011.FR, 4) & Pl011.FR_TXFE).isNotZero();
        assertThat(uart.read(Pl011.FR, 4) & Pl011.FR_RXFE).isNotZero();
        long periph = 0;
        long cell = 0;
        for (int i = 0; i < 4; i++) {
            periph |= uart.read(0xfe0 + 4 * i, 4) << (8 * i);
            cell |= uart.read(0xff0 + 4 * i, 4) << (8 * i);
        }
        assertThat(periph & 0xfffff).isEqualTo(0x41011); // part 0x011, designer 0x41 (Arm)
        assertThat(cell).isEqualTo(0xb105f00dL);
    }

    @Test
    void receiveRaisesTheLineWhenUnmaskedAndReadingDrainsIt() {
        uart.write(Pl011.IMSC, 4, Pl011.INT_RX | Pl011.INT_RT);
        uart.receive("hi".getBytes());
        assertThat(line).containsExactly(true);
        assertThat(uart.read(Pl011.FR, 4) & Pl011.FR_RXFE).isZero();
        assertThat(uart.read(Pl011.MIS, 4) & Pl011.INT_RX).isNotZero();
        assertThat(uart.read(Pl011.DR, 4)).isEqualTo('h');
        assertThat(uart.read(Pl011.DR, 4)).isEqualTo('i');
        assertThat(line).containsExactly(true, false);
        assertThat(uart.read(Pl011.FR, 4) & Pl011.FR_RXFE).isNotZero();
    }

    @Test
    void transmitInterruptIsLatchedAndClearedThroughIcr() {
        uart.write(Pl011.IMSC, 4, Pl011.INT_TX);
        uart.write(Pl011.DR, 4, 'x');
        assertThat(line).containsExactly(true);
        uart.write(Pl011.ICR, 4, Pl011.INT_TX);
        assertThat(line).containsExactly(true, false);
        assertThat(uart.read(Pl011.RIS, 4) & Pl011.INT_TX).isZero();
    }

    @Test
    void stateRoundTripsRegistersLineLevelAndUnreadInput() {
        uart.write(Pl011.IBRD, 4, 26);
        uart.write(Pl011.FBRD, 4, 3);
        uart.write(Pl011.LCR_H, 4, 0x70);
        uart.write(Pl011.CR, 4, 0x301);
        uart.write(Pl011.IFLS, 4, 0x09);
        uart.write(Pl011.IMSC, 4, Pl011.INT_RX);
        uart.write(Pl011.DMACR, 4, 2);
        uart.write(Pl011.ILPR, 4, 7);
        uart.receive("abc".getBytes());
        assertThat(uart.interruptPending()).isTrue();
        byte[] state = uart.saveState();

        Pl011 fresh = new Pl011(Arm64Layout.UART_BASE, Arm64Layout.UART_SPI, out);
        fresh.restoreState(state);
        assertThat(fresh.saveState()).isEqualTo(state);
        for (int reg : new int[] {Pl011.IBRD, Pl011.FBRD, Pl011.LCR_H, Pl011.CR, Pl011.IFLS, Pl011.IMSC, Pl011.RIS,
                Pl011.MIS, Pl011.DMACR, Pl011.ILPR, Pl011.FR}) {
            assertThat(fresh.read(reg, 4)).as("register 0x%x", reg).isEqualTo(uart.read(reg, 4));
        }
        assertThat(fresh.interruptPending()).isTrue();
        assertThat(fresh.read(Pl011.DR, 4)).isEqualTo('a');
        assertThat(fresh.read(Pl011.DR, 4)).isEqualTo('b');
        assertThat(fresh.read(Pl011.DR, 4)).isEqualTo('c');
        assertThat(fresh.read(Pl011.FR, 4) & Pl011.FR_RXFE).isNotZero();
    }

    @Test
    void corruptStateIsRejected() {
        uart.receive("xyz".getBytes());
        byte[] state = uart.saveState();
        Pl011 other = new Pl011(Arm64Layout.UART_BASE, Arm64Layout.UART_SPI, out);
        HostileState.assertRejectsCleanly(state, "device 'pl011'", other::restoreState);
        assertThatThrownBy(() -> other.restoreState(Arrays.copyOf(state, 20)))
                .isInstanceOf(CorruptStateException.class).hasMessageContaining("truncated");
        Pl011.State s = Pl011.State.decode(state, "t");
        Pl011.State wideImsc = new Pl011.State(s.ibrd(), s.fbrd(), s.lcr(), s.cr(), s.ifls(), 0xfff, s.ris(), s.dmacr(),
                s.ilpr(), s.lineHigh(), s.rx());
        assertThatThrownBy(() -> other.restoreState(wideImsc.encode())).isInstanceOf(CorruptStateException.class)
                .hasMessage("device 'pl011': record 'PL11' v1, field 'imsc': 4095 is out of range [0, 2047]");
        assertThatThrownBy(() -> other.restoreTyped(wideImsc)).isInstanceOf(CorruptStateException.class)
                .hasMessageContaining("out of range");
        Pl011.State flood = new Pl011.State(0, 0, 0, 0, 0, 0, 0, 0, 0, false, new byte[Pl011.MAX_SAVED_RX + 1]);
        assertThatThrownBy(() -> other.restoreState(flood.encode())).isInstanceOf(CorruptStateException.class)
                .hasMessageContaining("field 'rx': holds " + (Pl011.MAX_SAVED_RX + 1) + " elements, at most");
        other.restoreState(state); // a valid state still restores after the rejections
        assertThat(other.saveTyped()).isEqualTo(s);
    }

    @Test
    void theTypedStateRoundTrips() {
        Pl011.State s = new Pl011.State(0xffff, 0x3f, 0xff, 0xffff, 0x3f, 0x7ff, 0x7ff, 7, 0xff, true, "ab".getBytes());
        assertThat(Pl011.State.decode(s.encode(), "t")).isEqualTo(s);
        uart.restoreTyped(s);
        assertThat(uart.saveTyped()).isEqualTo(s);
        assertThat(uart.read(Pl011.IBRD, 4)).isEqualTo(0xffff);
        assertThat(uart.read(Pl011.DR, 4)).isEqualTo('a');
    }
}
