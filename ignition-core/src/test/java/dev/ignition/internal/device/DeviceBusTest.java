package dev.ignition.internal.device;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.device.Device;
import dev.ignition.device.MmioDevice;
import org.junit.jupiter.api.Test;

class DeviceBusTest {
    static MmioDevice mmio(String name, long base, long len, boolean explode) {
        return new MmioDevice() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public long baseAddress() {
                return base;
            }

            @Override
            public long length() {
                return len;
            }

            @Override
            public long read(long offset, int size) {
                if (explode) {
                    throw new IllegalStateException("boom");
                }
                return 0x1122334455667788L + offset;
            }

            @Override
            public void write(long offset, int size, long value) {}

            @Override
            public byte[] saveState() {
                return new byte[0];
            }

            @Override
            public void restoreState(byte[] state) {
                Device.requireNoState(this, state);
            }
        };
    }

    @Test
    void unclaimedAccessesReadAllOnesSizedToTheAccess() {
        DeviceBus bus = new DeviceBus();
        assertThat(bus.readPort(0x510, 1)).isEqualTo(0xff);
        assertThat(bus.readPort(0x510, 2)).isEqualTo(0xffff);
        assertThat(bus.readPort(0x510, 4)).isEqualTo(0xffff_ffffL);
        assertThat(bus.readMmio(0xd000_0000L, 8)).isEqualTo(-1L);
        bus.writeMmio(0xd000_0000L, 8, 5);
        assertThat(bus.unclaimedAccesses()).isEqualTo(5);
    }

    @Test
    void routesToTheDeviceAndMasksToTheAccessSize() {
        DeviceBus bus = new DeviceBus();
        bus.add(mmio("dev", 0x1000, 0x100, false));
        assertThat(bus.readMmio(0x1000, 2)).isEqualTo(0x7788);
        assertThat(bus.readMmio(0x1010, 8)).isEqualTo(0x1122334455667798L);
        assertThat(bus.readMmio(0x1100, 1)).as("one past the end").isEqualTo(0xff);
    }

    @Test
    void aDeviceThatThrowsIsDisabledNotTheHost() {
        DeviceBus bus = new DeviceBus();
        bus.add(mmio("bad", 0x1000, 0x100, true));
        assertThat(bus.readMmio(0x1000, 4)).isEqualTo(0xffff_ffffL);
        assertThat(bus.readMmio(0x1000, 4)).isEqualTo(0xffff_ffffL);
    }
}
