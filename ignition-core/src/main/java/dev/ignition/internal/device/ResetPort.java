package dev.ignition.internal.device;

import dev.ignition.device.PortIoDevice;

/**
 * The bits of the i8042 keyboard controller a Linux guest uses to reboot ({@code reboot=k}):
 * writing 0xFE to the command port 0x64 pulses the reset line. Status reads say "empty".
 */
public final class ResetPort implements PortIoDevice {
    public static final int PORT = 0x64;
    private static final int CMD_RESET = 0xfe;
    private final Runnable onReset;

    public ResetPort(Runnable onReset) {
        this.onReset = onReset;
    }

    @Override
    public String name() {
        return "i8042-reset";
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
        return 0;
    }

    @Override
    public void write(int offset, int size, long value) {
        if ((value & 0xff) == CMD_RESET) {
            onReset.run();
        }
    }
}
