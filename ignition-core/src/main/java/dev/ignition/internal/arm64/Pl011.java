package dev.ignition.internal.arm64;

import dev.ignition.device.DeviceContext;
import dev.ignition.device.InterruptLine;
import dev.ignition.device.MmioDevice;
import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.Persistent;
import dev.ignition.internal.state.StateReader;
import dev.ignition.internal.state.StateWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * An Arm PL011 UART (PrimeCell r1p5 register map), enough for Linux's {@code earlycon=pl011} and
 * the {@code amba-pl011} console driver: transmit is instant (the FIFO is always empty), received
 * bytes queue until read, and the PrimeCell ID registers identify it to the AMBA bus.
 *
 * <pre>{@code
 * Pl011 uart = new Pl011(Arm64Layout.UART_BASE, Arm64Layout.UART_SPI, System.out);
 * }</pre>
 */
public final class Pl011 implements MmioDevice, Persistent<Pl011.State> {
    static final int DR = 0x000;
    static final int RSR = 0x004;
    static final int FR = 0x018;
    static final int ILPR = 0x020;
    static final int IBRD = 0x024;
    static final int FBRD = 0x028;
    static final int LCR_H = 0x02c;
    static final int CR = 0x030;
    static final int IFLS = 0x034;
    static final int IMSC = 0x038;
    static final int RIS = 0x03c;
    static final int MIS = 0x040;
    static final int ICR = 0x044;
    static final int DMACR = 0x048;
    static final int FR_RXFE = 0x10;
    static final int FR_TXFE = 0x80;
    static final int INT_RX = 0x10;
    static final int INT_TX = 0x20;
    static final int INT_RT = 0x40;
    /** PeriphID0..3 then CellID0..3 at 0xFE0..0xFFC: part 0x011, designer Arm, revision r1p5. */
    private static final int[] ID = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

    private final long base;
    private final int spi;
    private final OutputStream out;
    private final ArrayDeque<Byte> rx = new ArrayDeque<>();
    private @Nullable InterruptLine irq;
    private int ibrd;
    private int fbrd;
    private int lcr;
    private int cr = 0x300;
    private int ifls = 0x12;
    private int imsc;
    private int ris;
    private int dmacr;
    private int ilpr;
    private boolean lineHigh;

    /**
     * @param base guest-physical base address
     * @param spi the SPI it raises
     * @param out where transmitted bytes go
     */
    public Pl011(long base, int spi, OutputStream out) {
        this.base = base;
        this.spi = spi;
        this.out = out;
    }

    @Override
    public String name() {
        return "pl011";
    }

    @Override
    public long baseAddress() {
        return base;
    }

    @Override
    public long length() {
        return Arm64Layout.UART_SIZE;
    }

    @Override
    public synchronized void attach(DeviceContext context) {
        irq = context.interruptLine(spi);
        update();
    }

    /** Queues bytes for the guest to read. Safe from any thread. */
    public synchronized void receive(byte[] data) {
        for (byte b : data) {
            rx.add(b);
        }
        if (!rx.isEmpty()) {
            ris |= INT_RX | INT_RT;
        }
        update();
    }

    @Override
    public synchronized long read(long offset, int size) {
        int off = (int) offset;
        if (off >= 0xfe0 && off < 0x1000) {
            return (off & 3) == 0 ? ID[(off - 0xfe0) >> 2] : 0;
        }
        return switch (off) {
            case DR -> readData();
            case RSR -> 0;
            case FR -> FR_TXFE | (rx.isEmpty() ? FR_RXFE : 0);
            case ILPR -> ilpr;
            case IBRD -> ibrd;
            case FBRD -> fbrd;
            case LCR_H -> lcr;
            case CR -> cr;
            case IFLS -> ifls;
            case IMSC -> imsc;
            case RIS -> ris;
            case MIS -> ris & imsc;
            case DMACR -> dmacr;
            default -> 0;
        };
    }

    @Override
    public synchronized void write(long offset, int size, long value) {
        int v = (int) value;
        switch ((int) offset) {
            case DR -> {
                try {
                    out.write(v & 0xff);
                    out.flush();
                } catch (IOException e) {
                    throw new UncheckedIOException("UART output failed", e);
                }
                // The byte left the (always empty) FIFO at once: the TX level was crossed.
                ris |= INT_TX;
            }
            case RSR -> { }
            case ILPR -> ilpr = v & 0xff;
            case IBRD -> ibrd = v & 0xffff;
            case FBRD -> fbrd = v & 0x3f;
            case LCR_H -> lcr = v & 0xff;
            case CR -> cr = v & 0xffff;
            case IFLS -> ifls = v & 0x3f;
            case IMSC -> imsc = v & 0x7ff;
            case ICR -> ris &= ~v;
            case DMACR -> dmacr = v & 7;
            default -> { }
        }
        update();
    }

    /** Received bytes a saved state may hold; more is taken as a corrupt or hostile state. */
    static final int MAX_SAVED_RX = 1 << 20;

    /**
     * The UART's snapshot state (record {@code PL11}, version 1): the registers masked to their
     * widths, the line level and the bytes received but not yet read by the guest (oldest first, at
     * most {@link #MAX_SAVED_RX}).
     */
    public record State(int ibrd, int fbrd, int lcr, int cr, int ifls, int imsc, int ris, int dmacr, int ilpr,
            boolean lineHigh, byte[] rx) {
        static final String TAG = "PL11";
        static final int VERSION = 1;

        public byte[] encode() {
            return new StateWriter(64 + rx.length).begin(TAG, VERSION).u16(ibrd).u8(fbrd).u8(lcr).u16(cr).u8(ifls)
                    .u16(imsc).u16(ris).u8(dmacr).u8(ilpr).bool(lineHigh).bytes(rx).end().toByteArray();
        }

        /** @throws CorruptStateException naming {@code context} and the field */
        public static State decode(byte[] data, String context) {
            StateReader r = StateReader.open(data, context, TAG, VERSION);
            State s = new State(r.u16("ibrd"), r.u8("fbrd", 0x3f), r.u8("lcr"), r.u16("cr"), r.u8("ifls", 0x3f),
                    r.u16("imsc", 0x7ff), r.u16("ris", 0x7ff), r.u8("dmacr", 7), r.u8("ilpr"), r.bool("lineHigh"),
                    r.bytes("rx", MAX_SAVED_RX));
            r.end();
            return s;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && ibrd == s.ibrd && fbrd == s.fbrd && lcr == s.lcr && cr == s.cr
                    && ifls == s.ifls && imsc == s.imsc && ris == s.ris && dmacr == s.dmacr && ilpr == s.ilpr
                    && lineHigh == s.lineHigh && Arrays.equals(rx, s.rx);
        }

        @Override
        public int hashCode() {
            return Objects.hash(ibrd, fbrd, lcr, cr, ifls, imsc, ris, dmacr, ilpr, lineHigh) * 31 + Arrays.hashCode(rx);
        }

        @Override
        public String toString() {
            return "Pl011.State[cr=0x" + Integer.toHexString(cr) + ", imsc=0x" + Integer.toHexString(imsc) + ", ris=0x"
                    + Integer.toHexString(ris) + ", rx=" + rx.length + " bytes]";
        }
    }

    @Override
    public synchronized State saveTyped() {
        byte[] pending = new byte[rx.size()];
        int i = 0;
        for (byte c : rx) {
            pending[i++] = c;
        }
        return new State(ibrd, fbrd, lcr, cr, ifls, imsc, ris, dmacr, ilpr, lineHigh, pending);
    }

    /**
     * Takes over {@code s}. The line level is taken as saved, not driven: the interrupt
     * controller's own restored state already holds it.
     */
    @Override
    public synchronized void restoreTyped(State s) {
        if ((s.ibrd() & ~0xffff) != 0 || (s.fbrd() & ~0x3f) != 0 || (s.lcr() & ~0xff) != 0 || (s.cr() & ~0xffff) != 0
                || (s.ifls() & ~0x3f) != 0 || (s.imsc() & ~0x7ff) != 0 || (s.ris() & ~0x7ff) != 0
                || (s.dmacr() & ~7) != 0 || (s.ilpr() & ~0xff) != 0 || s.rx().length > MAX_SAVED_RX) {
            throw new CorruptStateException("device '" + name() + "': state out of range: " + s, State.TAG, null);
        }
        ibrd = s.ibrd();
        fbrd = s.fbrd();
        lcr = s.lcr();
        cr = s.cr();
        ifls = s.ifls();
        imsc = s.imsc();
        ris = s.ris();
        dmacr = s.dmacr();
        ilpr = s.ilpr();
        lineHigh = s.lineHigh();
        rx.clear();
        for (byte c : s.rx()) {
            rx.add(c);
        }
    }

    /** Registers, the line level and the bytes received but not yet read by the guest. */
    @Override
    public byte[] saveState() {
        return saveTyped().encode();
    }

    @Override
    public void restoreState(byte[] state) {
        restoreTyped(State.decode(state, "device '" + name() + "'"));
    }

    /** Whether the interrupt line is currently driven high. */
    public synchronized boolean interruptPending() {
        return lineHigh;
    }

    private int readData() {
        Byte b = rx.poll();
        if (rx.isEmpty()) {
            ris &= ~(INT_RX | INT_RT);
        }
        update();
        return b == null ? 0 : b & 0xff;
    }

    private void update() {
        boolean high = (ris & imsc) != 0;
        if (high != lineHigh) {
            lineHigh = high;
            if (irq != null) {
                irq.set(high);
            }
        }
    }
}
