package dev.ignition.internal.device;

/**
 * The bits of the i8042 keyboard controller a Linux guest uses to reboot ({@code reboot=k}):
 * writing 0xFE to the command port 0x64 pulses the reset line. Status reads say "empty".
 */
public final class ResetPort extends SinglePortDevice {
    public static final int PORT = 0x64;
    private static final int CMD_RESET = 0xfe;
    private final Runnable onReset;

    public ResetPort(Runnable onReset) {
        super("i8042-reset", PORT);
        this.onReset = onReset;
    }

    @Override
    void onWrite(int value) {
        if (value == CMD_RESET) {
            onReset.run();
        }
    }
}
