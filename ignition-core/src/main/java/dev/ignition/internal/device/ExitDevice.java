package dev.ignition.internal.device;

import dev.ignition.device.PortIoDevice;
import java.util.function.IntConsumer;

/**
 * How a freestanding guest ends the VM: writing a byte to port {@value #PORT} exits with that
 * byte as the exit code (the port of QEMU's isa-debug-exit, so guests run there too).
 */
public final class ExitDevice implements PortIoDevice {
    public static final int PORT = 0xf4;
    private final IntConsumer onExit;

    public ExitDevice(IntConsumer onExit) {
        this.onExit = onExit;
    }

    @Override
    public String name() {
        return "exit";
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
        onExit.accept((int) (value & 0xff));
    }
}
