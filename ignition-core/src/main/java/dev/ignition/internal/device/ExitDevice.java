package dev.ignition.internal.device;

import java.util.function.IntConsumer;

/**
 * How a freestanding guest ends the VM: writing a byte to port {@value #PORT} exits with that
 * byte as the exit code (the port of QEMU's isa-debug-exit, so guests run there too).
 */
public final class ExitDevice extends SinglePortDevice {
    public static final int PORT = 0xf4;
    private final IntConsumer onExit;

    public ExitDevice(IntConsumer onExit) {
        super("exit", PORT);
        this.onExit = onExit;
    }

    @Override
    void onWrite(int value) {
        onExit.accept(value);
    }
}
