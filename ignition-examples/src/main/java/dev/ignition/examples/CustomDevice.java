package dev.ignition.examples;

import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.device.PortIoDevice;
import dev.ignition.guest.FreestandingGuest;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * A device of your own through the device SPI: {@link Shouter}, an I/O port that upper-cases the
 * (ASCII) byte last written to it, and a 33-byte freestanding guest that sends its message through the
 * device to the serial console. Run with {@code ./ignition example CustomDevice}.
 *
 * <pre>{@code
 * Shouter shouter = new Shouter();
 * try (VirtualMachine vm = VirtualMachine.builder().device(shouter).guest(CustomDevice.guest()).build()) {
 *     vm.start();   // prints "HELLO FROM A CUSTOM DEVICE"
 * }
 * }</pre>
 */
public final class CustomDevice {
    /** The message the guest sends through the device. */
    static final String MESSAGE = "hello from a custom device\n";
    static final long LOAD_ADDRESS = 0x10_0000;

    private CustomDevice() {}

    /**
     * Claims port {@value #PORT}: a write stores a byte, a read returns it upper-cased. Counts the
     * bytes it converted; the count is its snapshot state.
     */
    public static final class Shouter implements PortIoDevice {
        public static final int PORT = 0x510;
        private int last;
        private int converted;

        @Override
        public String name() {
            return "shouter";
        }

        @Override
        public int basePort() {
            return PORT;
        }

        @Override
        public int portCount() {
            return 1;
        }

        @Override
        public long read(int offset, int size) {
            converted++;
            return last >= 'a' && last <= 'z' ? last - ('a' - 'A') : last;
        }

        @Override
        public void write(int offset, int size, long value) {
            last = (int) (value & 0xff);
        }

        /** Bytes the guest has read back so far. */
        public int converted() {
            return converted;
        }

        @Override
        public byte[] saveState() {
            return ByteBuffer.allocate(8).putInt(last).putInt(converted).array();
        }

        @Override
        public void restoreState(byte[] state) {
            if (state.length != 8) {
                throw new IllegalArgumentException("shouter state must be 8 bytes, was " + state.length);
            }
            ByteBuffer b = ByteBuffer.wrap(state);
            last = b.getInt();
            converted = b.getInt();
        }
    }

    /**
     * The guest, assembled by hand (64-bit mode, loaded and entered at 1 MiB): for each byte of
     * {@link #MESSAGE}, write it to the device, read it back, send that to COM1; then exit with 0
     * through the exit port 0xf4.
     */
    public static FreestandingGuest guest() {
        ByteArrayOutputStream code = new ByteArrayOutputStream();
        int msg = 33; // offset of the message, after the code below
        code.writeBytes(new byte[] {
            (byte) 0xFC,                                            //  0: cld
            0x48, (byte) 0x8D, 0x35, (byte) (msg - 8), 0, 0, 0,     //  1: lea rsi, [rip + msg]
            (byte) 0xAC,                                            //  8: loop: lodsb (al = [rsi++])
            (byte) 0x84, (byte) 0xC0,                               //  9: test al, al
            0x74, 26 - 13,                                          // 11: jz done
            0x66, (byte) 0xBA, 0x10, 0x05,                          // 13: mov dx, 0x510 (the device)
            (byte) 0xEE,                                            // 17: out dx, al
            (byte) 0xEC,                                            // 18: in al, dx
            0x66, (byte) 0xBA, (byte) 0xF8, 0x03,                   // 19: mov dx, 0x3f8 (COM1)
            (byte) 0xEE,                                            // 23: out dx, al
            (byte) 0xEB, (byte) (8 - 26),                           // 24: jmp loop
            (byte) 0xB0, 0x00,                                      // 26: done: mov al, 0
            (byte) 0xE6, (byte) 0xF4,                               // 28: out 0xf4, al (exit code 0)
            (byte) 0xEB, (byte) (30 - 32),                          // 30: spin: jmp spin (user mode: no hlt)
            (byte) 0x90,                                            // 32: nop
        });
        if (code.size() != msg) {
            throw new AssertionError("the message must start at " + msg + ", the code ends at " + code.size());
        }
        code.writeBytes(MESSAGE.getBytes(StandardCharsets.US_ASCII));
        code.write(0);
        return new FreestandingGuest("shouter-demo", code.toByteArray(), LOAD_ADDRESS, LOAD_ADDRESS, 2L << 20);
    }

    public static void main(String[] args) {
        System.exit(run(System.out));
    }

    static int run(PrintStream out) {
        if (!Examples.backendAvailable(out)) {
            return Examples.UNAVAILABLE;
        }
        Shouter shouter = new Shouter();
        try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(8).device(shouter).guest(guest())
                .consoleOutput(out).build()) {
            vm.start();
            VmExit exit = vm.awaitExit(Duration.ofSeconds(60))
                    .orElseThrow(() -> new IllegalStateException("the guest did not exit within 60 s"));
            out.printf("the device converted %d bytes; the guest exited with %s%n", shouter.converted(), exit);
            return exit instanceof VmExit.GuestExit g && g.code() == 0 ? 0 : 1;
        }
    }
}
