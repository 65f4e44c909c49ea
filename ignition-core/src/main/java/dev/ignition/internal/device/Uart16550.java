package dev.ignition.internal.device;

import dev.ignition.device.DeviceContext;
import dev.ignition.device.InterruptLine;
import dev.ignition.device.PortIoDevice;
import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.Persistent;
import dev.ignition.internal.state.StateReader;
import dev.ignition.internal.state.StateWriter;
import java.util.Arrays;
import java.util.Objects;

/**
 * A 16550A UART as Linux's 8250 driver expects it: 64-byte receive FIFO, FIFO-type bits in IIR,
 * loopback, scratch register, divisor latch. Transmission is instantaneous (THRE and TEMT always
 * set). The interrupt is level-triggered and recomputed after every access: receive data
 * available when enabled and data is waiting, else THR empty when enabled.
 */
public final class Uart16550 implements PortIoDevice, Persistent<Uart16550.State> {
    public static final int COM1_PORT = 0x3f8;
    public static final int COM1_IRQ = 4;
    static final int FIFO_SIZE = 64;

    // Register offsets and bits (include/uapi/linux/serial_reg.h).
    private static final int IER_RDI = 0x01;
    private static final int IER_THRI = 0x02;
    private static final int IIR_NO_INT = 0x01;
    private static final int IIR_THRI = 0x02;
    private static final int IIR_RDI = 0x04;
    private static final int IIR_FIFO_BITS = 0xc0;
    private static final int FCR_ENABLE = 0x01;
    private static final int FCR_CLEAR_RX = 0x02;
    private static final int LCR_DLAB = 0x80;
    private static final int MCR_LOOP = 0x10;
    private static final int LSR_DR = 0x01;
    private static final int LSR_THRE = 0x20;
    private static final int LSR_TEMT = 0x40;

    private final int basePort;
    private final int irq;
    private final SerialIo io;
    private final byte[] rx = new byte[FIFO_SIZE];
    private int rxHead;
    private int rxCount;
    private int ier;
    private int lcr = 0x03;
    private int mcr = 0x08;
    private int scr;
    private int dll = 0x0c;
    private int dlm;
    private boolean fifoEnabled;
    private boolean irqHigh;
    private InterruptLine line = high -> {};

    public Uart16550(int basePort, int irq, SerialIo io) {
        this.basePort = basePort;
        this.irq = irq;
        this.io = io;
    }

    @Override
    public String name() {
        return "uart16550@0x" + Integer.toHexString(basePort);
    }

    @Override
    public int basePort() {
        return basePort;
    }

    @Override
    public int portCount() {
        return 8;
    }

    @Override
    public void attach(DeviceContext context) {
        this.line = context.interruptLine(irq);
        io.onInput(this::inputArrived);
    }

    private synchronized void inputArrived() {
        refill();
        updateInterrupt();
    }

    @Override
    public synchronized long read(int offset, int size) {
        int v = switch (offset) {
            case 0 -> (lcr & LCR_DLAB) != 0 ? dll : popRx();
            case 1 -> (lcr & LCR_DLAB) != 0 ? dlm : ier;
            case 2 -> iir() | (fifoEnabled ? IIR_FIFO_BITS : 0);
            case 3 -> lcr;
            case 4 -> mcr;
            case 5 -> (rxCount > 0 ? LSR_DR : 0) | LSR_THRE | LSR_TEMT;
            case 6 -> modemStatus();
            case 7 -> scr;
            default -> 0xff;
        };
        updateInterrupt();
        return v;
    }

    @Override
    public synchronized void write(int offset, int size, long value) {
        int v = (int) (value & 0xff);
        switch (offset) {
            case 0 -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dll = v;
                } else if ((mcr & MCR_LOOP) != 0) {
                    pushRx((byte) v);
                } else {
                    io.emit(new byte[] {(byte) v}, 0, 1);
                }
            }
            case 1 -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dlm = v;
                } else {
                    ier = v & 0x0f;
                }
            }
            case 2 -> {
                fifoEnabled = (v & FCR_ENABLE) != 0;
                if ((v & FCR_CLEAR_RX) != 0) {
                    rxHead = 0;
                    rxCount = 0;
                    refill();
                }
            }
            case 3 -> lcr = v;
            case 4 -> mcr = v & 0x1f;
            case 7 -> scr = v;
            default -> { } // LSR and MSR writes are factory-test only
        }
        updateInterrupt();
    }

    /**
     * The UART's snapshot state (record {@code U550}, version 1).
     *
     * @param ier interrupt enable, 4 bits
     * @param lcr line control
     * @param mcr modem control, 5 bits
     * @param scr scratch
     * @param dll divisor latch low
     * @param dlm divisor latch high
     * @param fifoEnabled FCR bit 0
     * @param irqHigh the interrupt line's level
     * @param rx bytes received but not yet read by the guest, oldest first, at most 64
     */
    public record State(int ier, int lcr, int mcr, int scr, int dll, int dlm, boolean fifoEnabled, boolean irqHigh,
            byte[] rx) {
        static final String TAG = "U550";
        static final int VERSION = 1;

        public byte[] encode() {
            return new StateWriter(32 + rx.length).begin(TAG, VERSION).u8(ier).u8(lcr).u8(mcr).u8(scr).u8(dll).u8(dlm)
                    .bool(fifoEnabled).bool(irqHigh).bytes(rx).end().toByteArray();
        }

        /** @throws CorruptStateException naming {@code context} and the field */
        public static State decode(byte[] data, String context) {
            StateReader r = StateReader.open(data, context, TAG, VERSION);
            State s = new State(r.u8("ier", 0x0f), r.u8("lcr"), r.u8("mcr", 0x1f), r.u8("scr"), r.u8("dll"), r.u8("dlm"),
                    r.bool("fifoEnabled"), r.bool("irqHigh"), r.bytes("rx", FIFO_SIZE));
            r.end();
            return s;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && ier == s.ier && lcr == s.lcr && mcr == s.mcr && scr == s.scr && dll == s.dll
                    && dlm == s.dlm && fifoEnabled == s.fifoEnabled && irqHigh == s.irqHigh && Arrays.equals(rx, s.rx);
        }

        @Override
        public int hashCode() {
            return Objects.hash(ier, lcr, mcr, scr, dll, dlm, fifoEnabled, irqHigh) * 31 + Arrays.hashCode(rx);
        }

        @Override
        public String toString() {
            return "Uart16550.State[ier=" + ier + ", lcr=" + lcr + ", mcr=" + mcr + ", rx=" + rx.length + " bytes]";
        }
    }

    @Override
    public synchronized State saveTyped() {
        byte[] pending = new byte[rxCount];
        for (int i = 0; i < rxCount; i++) {
            pending[i] = rx[(rxHead + i) % FIFO_SIZE];
        }
        return new State(ier, lcr, mcr, scr, dll, dlm, fifoEnabled, irqHigh, pending);
    }

    @Override
    public synchronized void restoreTyped(State s) {
        if (s.ier() > 0x0f || s.mcr() > 0x1f || s.rx().length > FIFO_SIZE) {
            throw new CorruptStateException("device '" + name() + "': state out of range: " + s, State.TAG, null);
        }
        ier = s.ier();
        lcr = s.lcr() & 0xff;
        mcr = s.mcr();
        scr = s.scr() & 0xff;
        dll = s.dll() & 0xff;
        dlm = s.dlm() & 0xff;
        fifoEnabled = s.fifoEnabled();
        irqHigh = s.irqHigh();
        rxHead = 0;
        rxCount = s.rx().length;
        System.arraycopy(s.rx(), 0, rx, 0, rxCount);
    }

    @Override
    public byte[] saveState() {
        return saveTyped().encode();
    }

    @Override
    public void restoreState(byte[] state) {
        restoreTyped(State.decode(state, "device '" + name() + "'"));
    }

    private int iir() {
        if ((ier & IER_RDI) != 0 && rxCount > 0) {
            return IIR_RDI;
        }
        if ((ier & IER_THRI) != 0) {
            return IIR_THRI;
        }
        return IIR_NO_INT;
    }

    private int modemStatus() {
        if ((mcr & MCR_LOOP) == 0) {
            return 0xb0; // DCD | DSR | CTS
        }
        int msr = 0;
        if ((mcr & 0x01) != 0) msr |= 0x20; // DTR -> DSR
        if ((mcr & 0x02) != 0) msr |= 0x10; // RTS -> CTS
        if ((mcr & 0x04) != 0) msr |= 0x40; // OUT1 -> RI
        if ((mcr & 0x08) != 0) msr |= 0x80; // OUT2 -> DCD
        return msr;
    }

    private int popRx() {
        if (rxCount == 0) {
            refill();
            if (rxCount == 0) {
                return 0;
            }
        }
        int b = rx[rxHead] & 0xff;
        rxHead = (rxHead + 1) % FIFO_SIZE;
        rxCount--;
        refill();
        return b;
    }

    private void pushRx(byte b) {
        if (rxCount < FIFO_SIZE) {
            rx[(rxHead + rxCount) % FIFO_SIZE] = b;
            rxCount++;
        }
    }

    private void refill() {
        if ((mcr & MCR_LOOP) != 0) {
            return;
        }
        while (rxCount < FIFO_SIZE) {
            int b = io.pollInput();
            if (b < 0) {
                return;
            }
            pushRx((byte) b);
        }
    }

    private void updateInterrupt() {
        boolean high = iir() != IIR_NO_INT;
        if (high != irqHigh) {
            irqHigh = high;
            line.set(high);
        }
    }
}
