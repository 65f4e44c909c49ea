package dev.ignition.internal.virtio;

import static dev.ignition.internal.virtio.VirtioMmio.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.internal.virtio.VirtioDriver.Buf;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A guest that breaks the rules gets DEVICE_NEEDS_RESET (and a configuration-change interrupt);
 * nothing throws out of the device, nothing hangs, and a reset brings the device back.
 */
@Timeout(30)
class VirtioHostileGuestTest {
    static VirtioDriver started() {
        return new VirtioDriver(new VirtioRng()).start(1, 8);
    }

    /** Asserts the device refused the guest with {@code why}, raised a config interrupt, and served nothing. */
    static void assertNeedsReset(VirtioDriver d, String why) {
        assertThat(d.needsReset()).as("DEVICE_NEEDS_RESET").isTrue();
        assertThat(d.device.failure()).contains(why);
        assertThat(d.reg(INTERRUPT_STATUS) & INT_CONFIG_CHANGE).isEqualTo(INT_CONFIG_CHANGE);
        int used = d.usedIdx(0);
        d.submit(0, new Buf(d.alloc(8), 8, true));
        assertThat(d.usedIdx(0)).as("notifications are ignored until reset").isEqualTo(used);
        // The driver resets and starts over: the device works again.
        d.start(1, 8);
        assertThat(d.needsReset()).isFalse();
        d.submit(0, new Buf(d.alloc(8), 8, true));
        assertThat(d.usedIdx(0)).isEqualTo(1);
    }

    @Test
    void descriptorLoop() {
        try (VirtioDriver d = started()) {
            long b = d.alloc(8);
            d.rawDesc(0, 0, b, 8, Virtqueue.F_WRITE | Virtqueue.F_NEXT, 1);
            d.rawDesc(0, 1, b, 8, Virtqueue.F_WRITE | Virtqueue.F_NEXT, 0);
            d.publish(0, 0);
            d.notifyQueue(0);
            assertNeedsReset(d, "loop");
        }
    }

    @Test
    void selfLoopOnOneDescriptor() {
        try (VirtioDriver d = started()) {
            d.rawDesc(0, 5, d.alloc(8), 8, Virtqueue.F_WRITE | Virtqueue.F_NEXT, 5);
            d.publish(0, 5);
            d.notifyQueue(0);
            assertNeedsReset(d, "loop");
        }
    }

    @Test
    void bufferOutsideGuestRam() {
        try (VirtioDriver d = started()) {
            d.rawDesc(0, 0, VirtioDriver.RAM_SIZE - 4, 8, Virtqueue.F_WRITE, 0);
            d.publish(0, 0);
            d.notifyQueue(0);
            assertNeedsReset(d, "not inside guest RAM");
        }
    }

    @Test
    void negativeAndWrappingAddresses() {
        try (VirtioDriver d = started()) {
            d.rawDesc(0, 0, -8, 16, Virtqueue.F_WRITE, 0); // 0xffff_ffff_ffff_fff8 + 16 wraps to 8
            d.publish(0, 0);
            d.notifyQueue(0);
            assertNeedsReset(d, "not inside guest RAM");
        }
    }

    @Test
    void hugeLength() {
        try (VirtioDriver d = started()) {
            d.rawDesc(0, 0, d.alloc(8), 0xffff_ffffL, Virtqueue.F_WRITE, 0);
            d.publish(0, 0);
            d.notifyQueue(0);
            assertNeedsReset(d, "not inside guest RAM");
        }
    }

    @Test
    void nextIndexBeyondTheQueue() {
        try (VirtioDriver d = started()) {
            d.rawDesc(0, 0, d.alloc(8), 8, Virtqueue.F_WRITE | Virtqueue.F_NEXT, 8);
            d.publish(0, 0);
            d.notifyQueue(0);
            assertNeedsReset(d, "outside the queue");
        }
    }

    @Test
    void headIndexBeyondTheQueue() {
        try (VirtioDriver d = started()) {
            d.publish(0, 0xffff);
            d.notifyQueue(0);
            assertNeedsReset(d, "outside the queue");
        }
    }

    @Test
    void availableIndexRunningAheadOfTheQueue() {
        try (VirtioDriver d = started()) {
            d.setAvailIdx(0, 9); // 9 new entries in a queue of 8
            d.notifyQueue(0);
            assertNeedsReset(d, "more than the queue size");
        }
    }

    @Test
    void indirectDescriptorsWereNotNegotiated() {
        try (VirtioDriver d = started()) {
            d.rawDesc(0, 0, d.alloc(64), 64, Virtqueue.F_INDIRECT, 0);
            d.publish(0, 0);
            d.notifyQueue(0);
            assertNeedsReset(d, "indirect");
        }
    }

    @Test
    void readableAfterWritable() {
        try (VirtioDriver d = started()) {
            d.submit(0, new Buf(d.alloc(8), 8, true), new Buf(d.alloc(8), 8, false));
            assertNeedsReset(d, "readable after");
        }
    }

    @Test
    void bogusQueueSizes() {
        for (int size : new int[] {0, 3, 512, 65535, -1}) {
            try (VirtioDriver d = new VirtioDriver(new VirtioRng())) {
                d.negotiate(F_VERSION_1);
                d.setupQueue(0, size, VirtioDriver.ring(0), VirtioDriver.ring(0) + 0x2000, VirtioDriver.ring(0) + 0x8000);
                d.reg(STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
                assertThat(d.needsReset()).as("size " + size).isTrue();
                assertThat(d.reg(QUEUE_READY)).isZero();
                assertThat(d.device.failure()).contains("queue size");
            }
        }
    }

    @Test
    void ringsOutsideGuestRamOrMisaligned() {
        long[][] layouts = {
            {VirtioDriver.RAM_SIZE - 16, 0x20000, 0x28000}, // descriptor table runs off the end
            {0x10000, VirtioDriver.RAM_SIZE, 0x28000}, // available ring outside
            {0x10000, 0x20000, -4096}, // used ring at a "negative" address
            {0x10008, 0x20000, 0x28000}, // descriptor table not 16-byte aligned
            {0x10000, 0x20000, 0x28002}, // used ring not 4-byte aligned
        };
        for (long[] l : layouts) {
            try (VirtioDriver d = new VirtioDriver(new VirtioRng())) {
                d.negotiate(F_VERSION_1);
                d.setupQueue(0, 8, l[0], l[1], l[2]);
                assertThat(d.needsReset()).as("layout %x %x %x", l[0], l[1], l[2]).isTrue();
                assertThat(d.reg(QUEUE_READY)).isZero();
            }
        }
    }

    @Test
    void indicesWrapAroundAt65536() {
        try (VirtioDriver d = new VirtioDriver(new VirtioRng()).start(1, 4)) {
            long buf = d.alloc(1);
            for (int i = 0; i < 70_000; i++) {
                d.submit(0, new Buf(buf, 1, true));
            }
            assertThat(d.usedIdx(0)).isEqualTo(70_000 & 0xffff);
            assertThat(d.needsReset()).isFalse();
        }
    }

    @Test
    void randomGarbageInRingsAndRegistersNeverEscapes() {
        Random r = new Random(1234);
        for (int round = 0; round < 300; round++) {
            try (VirtioDriver d = new VirtioDriver(new VirtioRng()).start(1, 1 << r.nextInt(9))) {
                byte[] junk = new byte[0x10000];
                r.nextBytes(junk);
                d.memory.write(VirtioDriver.ring(0), junk);
                for (int i = 0; i < 50; i++) {
                    int reg = r.nextInt(0x120) & ~3;
                    if (r.nextInt(4) == 0) {
                        d.device.write(reg, 4, r.nextLong() & 0xffff_ffffL);
                    } else if (reg != STATUS || r.nextBoolean()) {
                        d.notifyQueue(0);
                    }
                    d.device.read(r.nextInt(0x200), 1 << r.nextInt(4));
                }
            }
        }
    }
}
