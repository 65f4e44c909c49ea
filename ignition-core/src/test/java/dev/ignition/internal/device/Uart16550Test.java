package dev.ignition.internal.device;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.device.DeviceContext;
import dev.ignition.device.InterruptLine;
import dev.ignition.memory.GuestMemory;
import java.io.ByteArrayOutputStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The UART against what Linux's 8250 driver probes and relies on. */
class Uart16550Test {
    final ByteArrayOutputStream tx = new ByteArrayOutputStream();
    final ArrayDeque<Integer> rxQueue = new ArrayDeque<>();
    final List<Boolean> irq = new ArrayList<>();
    Runnable inputCallback;
    Uart16550 uart;

    @BeforeEach
    void setUp() {
        uart = new Uart16550(0x3f8, 4, new SerialIo() {
            @Override
            public void emit(byte[] bytes, int off, int len) {
                tx.write(bytes, off, len);
            }

            @Override
            public int pollInput() {
                Integer b = rxQueue.poll();
                return b == null ? -1 : b;
            }

            @Override
            public void onInput(Runnable callback) {
                inputCallback = callback;
            }
        });
        uart.attach(new DeviceContext() {
            @Override
            public GuestMemory memory() {
                throw new UnsupportedOperationException();
            }

            @Override
            public InterruptLine interruptLine(int line) {
                assertThat(line).isEqualTo(4);
                return irq::add;
            }

            @Override
            public long nanosSinceStart() {
                return 0;
            }
        });
    }

    long in(int off) {
        return uart.read(off, 1);
    }

    void out(int off, int v) {
        uart.write(off, 1, v);
    }

    @Test
    void transmitsBytesAndAlwaysReportsTransmitterEmpty() {
        out(0, 'h');
        out(0, 'i');
        assertThat(tx.toString()).isEqualTo("hi");
        assertThat(in(5) & 0x60).isEqualTo(0x60);
    }

    @Test
    void ierKeepsOnlyTheLowFourBits() {
        out(1, 0);
        assertThat(in(1)).isZero();
        out(1, 0xff);
        assertThat(in(1)).isEqualTo(0x0f);
    }

    @Test
    void fifoTypeReads16550A() {
        out(2, 0x01);
        assertThat(in(2) >> 6).isEqualTo(3);
    }

    @Test
    void loopbackMapsModemControlToStatusAndEchoesData() {
        out(4, 0x10 | 0x0a); // LOOP | RTS | OUT2
        assertThat(in(6) & 0xf0).isEqualTo(0x90);
        out(0, 'x');
        assertThat(tx.size()).isZero();
        assertThat(in(5) & 1).isEqualTo(1);
        assertThat(in(0)).isEqualTo('x');
    }

    @Test
    void divisorLatchIsSeparateFromDataRegisters() {
        out(3, 0x80);
        out(0, 0x01);
        out(1, 0x02);
        assertThat(in(0)).isEqualTo(1);
        assertThat(in(1)).isEqualTo(2);
        out(3, 0x03);
        assertThat(in(1)).isZero(); // IER, not DLM
    }

    @Test
    void thrEmptyInterruptIsReassertedWhileEnabled() {
        out(1, 0x02); // THRI
        assertThat(in(2) & 0x0f).isEqualTo(0x02);
        out(1, 0);
        assertThat(in(2) & 0x01).isEqualTo(1);
        out(1, 0x02);
        assertThat(in(2) & 0x0f).as("no UART_BUG_THRE").isEqualTo(0x02);
        assertThat(irq).containsExactly(true, false, true);
    }

    @Test
    void receivedDataRaisesTheLineUntilDrained() {
        out(1, 0x01); // RDI
        rxQueue.add((int) 'a');
        rxQueue.add((int) 'b');
        inputCallback.run();
        assertThat(irq).containsExactly(true);
        assertThat(in(2) & 0x0f).isEqualTo(0x04);
        assertThat(in(0)).isEqualTo('a');
        assertThat(in(0)).isEqualTo('b');
        assertThat(in(5) & 1).isZero();
        assertThat(irq).containsExactly(true, false);
    }

    @Test
    void receiveFifoHoldsSixtyFourBytesAndRefillsAsItDrains() {
        for (int i = 0; i < 100; i++) {
            rxQueue.add(i);
        }
        inputCallback.run();
        assertThat(rxQueue).hasSize(100 - Uart16550.FIFO_SIZE);
        for (int i = 0; i < 100; i++) {
            assertThat(in(0)).isEqualTo(i);
        }
        assertThat(in(5) & 1).isZero();
    }
}
