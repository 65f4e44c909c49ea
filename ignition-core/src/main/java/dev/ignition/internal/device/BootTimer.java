package dev.ignition.internal.device;

import dev.ignition.device.Device;
import dev.ignition.device.DeviceContext;
import dev.ignition.device.MmioDevice;

/**
 * The boot-timer device of the seed system (and Firecracker): when the guest writes the byte
 * {@value #MAGIC} at offset 0, the time since the VM started is recorded, once.
 */
public final class BootTimer implements MmioDevice {
    public static final int MAGIC = 123;
    private final long base;
    private DeviceContext context;
    private volatile long bootNanos = -1;

    public BootTimer(long base) {
        this.base = base;
    }

    @Override
    public String name() {
        return "boot-timer";
    }

    @Override
    public long baseAddress() {
        return base;
    }

    @Override
    public long length() {
        return 0x1000;
    }

    @Override
    public void attach(DeviceContext context) {
        this.context = context;
    }

    @Override
    public long read(long offset, int size) {
        return 0;
    }

    @Override
    public void write(long offset, int size, long value) {
        if (offset == 0 && (value & 0xff) == MAGIC && bootNanos < 0 && context != null) {
            bootNanos = context.nanosSinceStart();
        }
    }

    /** Nanoseconds from start to the guest's signal, or -1 before it. */
    public long bootNanos() {
        return bootNanos;
    }

    /** {@inheritDoc} Stateless: the boot time measures this VM's own start; a restored VM reports none. */
    @Override
    public byte[] saveState() {
        return new byte[0];
    }

    @Override
    public void restoreState(byte[] state) {
        Device.requireNoState(this, state);
    }
}
