package dev.ignition.internal.device;

import dev.ignition.device.Device;
import dev.ignition.device.PortIoDevice;

/** A device on one I/O port that reads as zero and acts on the byte written to it. */
abstract class SinglePortDevice implements PortIoDevice {
    private final String name;
    private final int port;

    SinglePortDevice(String name, int port) {
        this.name = name;
        this.port = port;
    }

    /** The guest wrote {@code value} (its low byte). */
    abstract void onWrite(int value);

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final int basePort() {
        return port;
    }

    @Override
    public final int portCount() {
        return 1;
    }

    @Override
    public final long read(int offset, int size) {
        return 0;
    }

    @Override
    public final void write(int offset, int size, long value) {
        onWrite((int) (value & 0xff));
    }

    /** {@inheritDoc} Stateless: it acts on each write at once and keeps nothing. */
    @Override
    public final byte[] saveState() {
        return new byte[0];
    }

    @Override
    public final void restoreState(byte[] state) {
        Device.requireNoState(this, state);
    }
}
