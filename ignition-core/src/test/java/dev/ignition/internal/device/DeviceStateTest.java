package dev.ignition.internal.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.device.Device;
import dev.ignition.device.DeviceContext;
import dev.ignition.device.Disk;
import dev.ignition.device.InterruptLine;
import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.HostileState;
import dev.ignition.internal.virtio.VirtioMmio;
import dev.ignition.internal.virtio.VirtioSlots;
import dev.ignition.internal.vm.GuestRam;
import dev.ignition.memory.GuestMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every built-in device declares its state: save, restore into a fresh device, save again gives
 * the same bytes (and devices without state take only the empty state).
 */
class DeviceStateTest {
    @TempDir
    Path dir;

    static final DeviceContext NO_MEMORY = new DeviceContext() {
        @Override
        public GuestMemory memory() {
            throw new UnsupportedOperationException();
        }

        @Override
        public InterruptLine interruptLine(int irq) {
            return high -> {};
        }

        @Override
        public long nanosSinceStart() {
            return 0;
        }
    };

    /** A UART whose serial input is {@code input}, delivered when the UART is told of it. */
    static Uart16550 uart(ArrayDeque<Integer> input) {
        Runnable[] callback = {() -> {}};
        Uart16550 u = new Uart16550(0x3f8, 4, new SerialIo() {
            @Override
            public void emit(byte[] bytes, int off, int len) {}

            @Override
            public int pollInput() {
                Integer b = input.poll();
                return b == null ? -1 : b;
            }

            @Override
            public void onInput(Runnable r) {
                callback[0] = r;
            }
        });
        u.attach(NO_MEMORY);
        callback[0].run();
        return u;
    }

    static void assertRoundTrips(Device original, Device fresh) {
        byte[] state = original.saveState();
        fresh.restoreState(state);
        assertThat(fresh.saveState()).as(original.name()).isEqualTo(state);
    }

    @Test
    void theUartKeepsItsRegistersAndUnreadInput() {
        ArrayDeque<Integer> input = new ArrayDeque<>(List.of((int) 'x', (int) 'y'));
        Uart16550 u = uart(input);
        u.write(3, 1, 0x80); // DLAB
        u.write(0, 1, 0x0c); // divisor 12
        u.write(3, 1, 0x03); // 8N1
        u.write(1, 1, 0x01); // receive interrupts
        u.write(7, 1, 0x5a); // scratch
        u.write(2, 1, 0x01); // FIFO on
        u.write(0, 1, 'z'); // transmitted, not kept
        assertThat(u.read(5, 1) & 1).as("data ready").isEqualTo(1);
        Uart16550 fresh = uart(new ArrayDeque<>());
        assertRoundTrips(u, fresh);
        assertThat(fresh.read(7, 1)).isEqualTo(0x5a);
        assertThat(fresh.read(0, 1)).as("the unread input came along").isEqualTo('x');
    }

    @Test
    void theUartStateIsATypedRecordThatRefusesHostileBytes() {
        Uart16550 u = uart(new ArrayDeque<>(List.of(1, 2, 3)));
        u.write(1, 1, 0x0f);
        Uart16550.State s = u.saveTyped();
        assertThat(s.rx()).containsExactly(1, 2, 3);
        assertThat(s.ier()).isEqualTo(0x0f);
        assertThat(Uart16550.State.decode(s.encode(), "t")).isEqualTo(s);
        Uart16550 other = uart(new ArrayDeque<>());
        String ctx = "device '" + other.name() + "'";
        HostileState.assertRejectsCleanly(u.saveState(), ctx, other::restoreState);
        Uart16550.State wideIer = new Uart16550.State(0x1f, 3, 8, 0, 12, 0, false, false, new byte[0]);
        assertThatThrownBy(() -> other.restoreState(wideIer.encode())).isInstanceOf(CorruptStateException.class)
                .hasMessage(ctx + ": record 'U550' v1, field 'ier': 31 is out of range [0, 15]");
        Uart16550.State overfull = new Uart16550.State(0, 3, 8, 0, 12, 0, true, false, new byte[Uart16550.FIFO_SIZE + 1]);
        assertThatThrownBy(() -> other.restoreState(overfull.encode())).isInstanceOf(CorruptStateException.class)
                .hasMessageContaining("field 'rx': holds 65 elements, at most 64 allowed");
        assertThatThrownBy(() -> other.restoreTyped(overfull)).isInstanceOf(CorruptStateException.class);
        other.restoreState(u.saveState());
        assertThat(other.saveTyped()).isEqualTo(s);
    }

    @Test
    void devicesWithoutStateSaySoAndRefuseState() {
        List<Supplier<Device>> stateless = List.of(() -> new BootTimer(0xc000_0000L), () -> new ExitDevice(code -> {}),
                () -> new ResetPort(() -> {}));
        for (Supplier<Device> make : stateless) {
            Device d = make.get();
            assertThat(d.saveState()).as(d.name()).isEmpty();
            assertRoundTrips(d, make.get());
            assertThatThrownBy(() -> make.get().restoreState(new byte[] {1})).as(d.name())
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(d.name() + " has no state");
        }
    }

    @Test
    void everyVirtioDeviceRoundTrips() throws IOException {
        Path disk = Files.write(dir.resolve("disk.img"), new byte[1 << 16]);
        for (boolean arm64 : new boolean[] {false, true}) {
            List<VirtioMmio> a = VirtioSlots.create(arm64, List.of(Disk.of(disk)), true, 3L);
            List<VirtioMmio> b = VirtioSlots.create(arm64, List.of(Disk.of(disk)), true, 3L);
            try (GuestMemory memory = GuestRam.allocateX86(4 << 20)) {
                DeviceContext ctx = new DeviceContext() {
                    @Override
                    public GuestMemory memory() {
                        return memory;
                    }

                    @Override
                    public InterruptLine interruptLine(int irq) {
                        return high -> {};
                    }

                    @Override
                    public long nanosSinceStart() {
                        return 0;
                    }
                };
                a.forEach(d -> d.attach(ctx));
                b.forEach(d -> d.attach(ctx));
                assertThat(a).hasSize(3);
                for (int i = 0; i < a.size(); i++) {
                    assertThat(a.get(i).saveState()).as(a.get(i).name()).isNotEmpty();
                    assertRoundTrips(a.get(i), b.get(i));
                }
            } finally {
                a.forEach(VirtioMmio::close);
                b.forEach(VirtioMmio::close);
            }
        }
    }
}
