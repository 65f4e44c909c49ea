package dev.ignition.internal.virtio;

import static dev.ignition.internal.virtio.VirtioMmio.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.HostileState;
import dev.ignition.internal.virtio.VirtioDriver.Buf;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The transport: registers, negotiation, interrupts, reset, and state save/restore. */
class VirtioMmioTest {
    static VirtioDriver rng() {
        return new VirtioDriver(new VirtioRng());
    }

    @Test
    void identifiesAsAVersion2Device() {
        try (VirtioDriver d = rng()) {
            assertThat(d.reg(MAGIC_VALUE)).isEqualTo(0x74726976);
            assertThat(d.reg(VERSION_REG)).isEqualTo(2);
            assertThat(d.reg(DEVICE_ID)).isEqualTo(VirtioRng.DEVICE_ID);
            assertThat(d.deviceFeatures()).isEqualTo(F_VERSION_1);
            d.reg(QUEUE_SEL, 0);
            assertThat(d.reg(QUEUE_NUM_MAX)).isEqualTo(256);
            d.reg(QUEUE_SEL, 1);
            assertThat(d.reg(QUEUE_NUM_MAX)).as("no such queue").isZero();
            assertThat(d.reg(SHM_LEN_LOW)).as("no shared memory regions").isEqualTo(-1);
            assertThat(d.device.name()).isEqualTo("virtio-rng@0xd0000000");
        }
    }

    @Test
    void featuresOkOnlyForVersion1AndOfferedFeatures() {
        try (VirtioDriver d = rng()) {
            assertThat(d.negotiate(0) & FEATURES_OK).as("legacy driver refused").isZero();
            assertThat(d.negotiate(F_VERSION_1 | (1L << 28)) & FEATURES_OK).as("indirect not offered").isZero();
            assertThat(d.negotiate(F_VERSION_1) & FEATURES_OK).isEqualTo(FEATURES_OK);
            d.reg(DRIVER_FEATURES, 0);
            assertThat(d.reg(STATUS) & FEATURES_OK).as("features are frozen after FEATURES_OK").isEqualTo(FEATURES_OK);
        }
    }

    @Test
    void driverOkWithoutFeaturesOkIsRefused() {
        try (VirtioDriver d = rng()) {
            d.reg(STATUS, ACKNOWLEDGE | DRIVER | DRIVER_OK);
            assertThat(d.reg(STATUS) & DRIVER_OK).isZero();
        }
    }

    @Test
    void interruptIsRaisedAcknowledgedAndPulsedForEachNewBuffer() {
        try (VirtioDriver d = rng().start(1, 4)) {
            d.submit(0, new Buf(d.alloc(8), 8, true));
            assertThat(d.reg(INTERRUPT_STATUS)).isEqualTo(INT_USED_BUFFER);
            assertThat(d.lineLevels).containsExactly(true);
            d.submit(0, new Buf(d.alloc(8), 8, true));
            assertThat(d.lineLevels).as("a fresh edge while still high").containsExactly(true, false, true);
            d.reg(INTERRUPT_ACK, INT_USED_BUFFER);
            assertThat(d.reg(INTERRUPT_STATUS)).isZero();
            assertThat(d.lineLevels).endsWith(false);
        }
    }

    @Test
    void notificationsBeforeDriverOkAreIgnoredAndServedLater() {
        try (VirtioDriver d = rng()) {
            d.negotiate(F_VERSION_1);
            d.setupQueue(0, 4, VirtioDriver.ring(0), VirtioDriver.ring(0) + 64, VirtioDriver.ring(0) + 0x8000);
            long buf = d.alloc(16);
            d.submit(0, new Buf(buf, 16, true));
            assertThat(d.usedIdx(0)).isZero();
            assertThat(d.memory.read(buf, 16)).containsOnly((byte) 0);
            assertThat(d.lineLevels).isEmpty();
            d.reg(STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
            d.notifyQueue(0);
            assertThat(d.usedIdx(0)).isEqualTo(1);
            d.notifyQueue(5); // no such queue
            d.notifyQueue(-1);
            assertThat(d.needsReset()).isFalse();
        }
    }

    @Test
    void resetReturnsEverythingToInitialState() {
        try (VirtioDriver d = rng().start(1, 4)) {
            d.submit(0, new Buf(d.alloc(8), 8, true));
            d.reg(STATUS, 0);
            assertThat(d.reg(STATUS)).isZero();
            assertThat(d.reg(INTERRUPT_STATUS)).isZero();
            assertThat(d.lineLevels).endsWith(false);
            d.reg(QUEUE_SEL, 0);
            assertThat(d.reg(QUEUE_READY)).isZero();
            d.start(1, 4);
            d.submit(0, new Buf(d.alloc(8), 8, true));
            assertThat(d.usedIdx(0)).as("used index restarts at 0 after reset").isEqualTo(1);
        }
    }

    @Test
    void aLiveQueuesLayoutCannotBeChanged() {
        try (VirtioDriver d = rng().start(1, 4)) {
            d.reg(QUEUE_SEL, 0);
            d.reg(QUEUE_DESC_LOW, 0x7fff_0000L);
            d.reg(QUEUE_NUM, 2);
            d.submit(0, new Buf(d.alloc(8), 8, true));
            assertThat(d.usedIdx(0)).isEqualTo(1);
        }
    }

    @Test
    void oddlySizedAndMisalignedRegisterAccessesAreHarmless() {
        try (VirtioDriver d = rng().start(1, 4)) {
            assertThat(d.device.read(MAGIC_VALUE, 2)).isZero();
            assertThat(d.device.read(MAGIC_VALUE + 1, 4)).isZero();
            d.device.write(STATUS, 1, 0);
            d.device.write(STATUS + 2, 4, 0);
            d.device.write(0x100, 4, 1);
            assertThat(d.device.read(0x100, 8)).as("rng has no config space").isZero();
            assertThat(d.reg(STATUS) & DRIVER_OK).isEqualTo(DRIVER_OK);
        }
    }

    @Test
    void stateRoundTripsIntoAFreshDeviceThatContinuesTheQueue() throws Exception {
        try (VirtioDriver d = new VirtioDriver(new VirtioRng(VirtioRngTest.seeded())).start(1, 4)) {
            for (int i = 0; i < 3; i++) {
                d.submit(0, new Buf(d.alloc(8), 8, true));
            }
            byte[] state = d.device.saveState();

            VirtioDriver fresh = new VirtioDriver(new VirtioRng(), d.memory);
            fresh.device.restoreState(state);
            assertThat(fresh.device.saveState()).isEqualTo(state);
            assertThat(fresh.reg(STATUS)).isEqualTo(d.reg(STATUS));
            assertThat(fresh.reg(INTERRUPT_STATUS)).isEqualTo(INT_USED_BUFFER);
            // The driver publishes a fourth request; only the restored device is told.
            d.memory.slice(d.used(0) + 4, 24).fill((byte) 0); // forget the first three completions
            long buf = d.alloc(8);
            d.rawDesc(0, 3, buf, 8, Virtqueue.F_WRITE, 0);
            d.publish(0, 3);
            fresh.notifyQueue(0);
            assertThat(d.usedIdx(0)).isEqualTo(4);
            assertThat(d.usedElem(0, 3)).containsExactly(3, 8);
            assertThat(d.memory.read(d.used(0) + 4, 24)).as("earlier requests not served again").containsOnly((byte) 0);
            assertThat(d.memory.read(buf, 8)).isNotEqualTo(new byte[8]);
            assertThat(fresh.needsReset()).isFalse();
        }
    }

    @Test
    void aRestoredOutstandingInterruptIsPulsedAgainAndAQuietDeviceStaysQuiet() {
        try (VirtioDriver d = rng().start(1, 4)) {
            d.submit(0, new Buf(d.alloc(8), 8, true));
            byte[] pending = d.device.saveState();
            d.reg(INTERRUPT_ACK, INT_USED_BUFFER);
            byte[] quiet = d.device.saveState();

            VirtioDriver restored = new VirtioDriver(new VirtioRng(), d.memory);
            restored.device.restoreState(pending);
            restored.device.repulseInterrupt();
            assertThat(restored.lineLevels).as("a fresh edge for the outstanding interrupt")
                    .containsExactly(false, true);

            VirtioDriver idle = new VirtioDriver(new VirtioRng(), d.memory);
            idle.device.restoreState(quiet);
            idle.device.repulseInterrupt();
            assertThat(idle.lineLevels).isEmpty();
        }
    }

    @Test
    void corruptStateIsRejected() {
        try (VirtioDriver d = rng().start(1, 4)) {
            byte[] state = d.device.saveState();
            VirtioDriver other = new VirtioDriver(new VirtioRng(), d.memory);
            String ctx = "device 'virtio-rng@0xd0000000'";
            HostileState.assertRejectsCleanly(state, ctx, b -> {
                try {
                    other.device.restoreState(b);
                } finally {
                    other.reg(STATUS, 0); // back to reset for the next attempt
                }
            });
            assertThatThrownBy(() -> other.device.restoreState(Arrays.copyOf(state, 10)))
                    .isInstanceOf(CorruptStateException.class).hasMessageContaining("truncated");
            VirtioMmio.State s = VirtioMmio.State.decode(state, "t");
            Virtqueue.State q = s.queues().get(0);
            // queue 0's descriptor table pointed outside guest RAM
            VirtioMmio.State badQueue = withQueues(s, List.of(new Virtqueue.State(q.size(), true, 0x7000_0000_0000L,
                    q.availRing(), q.usedRing(), q.lastAvail(), q.usedIdx())));
            assertThatThrownBy(() -> other.device.restoreState(badQueue.encode()))
                    .isInstanceOf(CorruptStateException.class)
                    .hasMessageStartingWith(ctx + ": state has an invalid queue 0: descriptor table")
                    .hasMessageContaining("not inside guest RAM");
            VirtioMmio.State badSize = withQueues(s, List.of(new Virtqueue.State(3, true, q.descTable(), q.availRing(),
                    q.usedRing(), q.lastAvail(), q.usedIdx())));
            assertThatThrownBy(() -> other.device.restoreTyped(badSize)).hasMessageContaining("queue size 3");
            assertThatThrownBy(() -> other.device.restoreTyped(withQueues(s, List.of(q, q))))
                    .isInstanceOf(CorruptStateException.class).hasMessageContaining("state is for a device with 2 queues, this one has 1");
            VirtioMmio.State features = new VirtioMmio.State(s.status(), 0, 0, 0, 0, 1L << 28, 0, false, s.queues());
            assertThatThrownBy(() -> other.device.restoreTyped(features)).hasMessageContaining("does not offer");
            VirtioMmio.State isr = new VirtioMmio.State(s.status(), 0, 0, 0, 4, s.driverFeatures(), 0, false, s.queues());
            assertThatThrownBy(() -> other.device.restoreState(isr.encode()))
                    .hasMessage(ctx + ": record 'VMIO' v1, field 'interruptStatus': 4 is out of range [0, 3]");
            VirtioMmio.State status = new VirtioMmio.State(0x10, 0, 0, 0, 0, s.driverFeatures(), 0, false, s.queues());
            assertThatThrownBy(() -> other.device.restoreState(status.encode()))
                    .hasMessageContaining("field 'status': unknown status bits 0x10");
            assertThat(other.reg(STATUS)).as("rejected states change nothing").isZero();
            byte[] blkState = new VirtioDriver(new VirtioRng(), d.memory).device.saveState();
            other.device.restoreState(blkState); // a valid state still restores after the rejections
            other.device.restoreState(state);
            assertThat(other.device.saveTyped()).isEqualTo(s);
        }
    }

    @Test
    void theTypedStateRoundTrips() {
        Virtqueue.State a = new Virtqueue.State(256, true, 0x1000, 0x2000, 0x3000, 0xffff, 7);
        Virtqueue.State b = new Virtqueue.State(-1, false, -1, Long.MIN_VALUE, 0, 0, 0xffff);
        VirtioMmio.State s = new VirtioMmio.State(0xcf, 1, -1, 7, 3, F_VERSION_1 | 5, Integer.MIN_VALUE, true,
                List.of(a, b));
        assertThat(VirtioMmio.State.decode(s.encode(), "t")).isEqualTo(s);
    }

    private static VirtioMmio.State withQueues(VirtioMmio.State s, List<Virtqueue.State> queues) {
        return new VirtioMmio.State(s.status(), s.deviceFeaturesSel(), s.driverFeaturesSel(), s.queueSel(),
                s.interruptStatus(), s.driverFeatures(), s.configGeneration(), s.lineHigh(), queues);
    }

    @Test
    void aConfigurationChangeMovesTheGenerationAndInterruptsOnlyARunningDriver() {
        try (VirtioDriver d = rng()) {
            int g0 = d.reg(CONFIG_GENERATION);
            assertThat(d.device.configChanged()).as("no driver yet").isFalse();
            assertThat(d.reg(CONFIG_GENERATION)).isNotEqualTo(g0);
            assertThat(d.reg(INTERRUPT_STATUS)).isZero();
            assertThat(d.lineLevels).isEmpty();

            d.start(1, 4);
            int g1 = d.reg(CONFIG_GENERATION);
            assertThat(d.device.configChanged()).isTrue();
            assertThat(d.reg(INTERRUPT_STATUS)).isEqualTo(INT_CONFIG_CHANGE);
            assertThat(d.reg(CONFIG_GENERATION)).isNotEqualTo(g1);
            assertThat(d.lineLevels).containsExactly(true);
            assertThat(d.device.configChanged()).isTrue();
            assertThat(d.lineLevels).as("a fresh edge for the second change").containsExactly(true, false, true);
            d.reg(INTERRUPT_ACK, INT_CONFIG_CHANGE);
            assertThat(d.lineLevels).endsWith(false);

            byte[] state = d.device.saveState();
            VirtioDriver restored = new VirtioDriver(new VirtioRng(), d.memory);
            restored.device.restoreState(state);
            assertThat(restored.reg(CONFIG_GENERATION)).as("kept across a snapshot").isEqualTo(d.reg(CONFIG_GENERATION));
        }
    }

    @Test
    void aDeviceThatNeedsAResetRaisesNoConfigurationChangeOfItsOwn() {
        try (VirtioDriver d = rng().start(1, 4)) {
            d.rawDesc(0, 0, VirtioDriver.RAM_SIZE + 4096, 8, Virtqueue.F_WRITE, 0);
            d.publish(0, 0);
            d.notifyQueue(0);
            assertThat(d.needsReset()).isTrue();
            d.reg(INTERRUPT_ACK, INT_CONFIG_CHANGE);
            assertThat(d.device.configChanged()).isFalse();
            assertThat(d.reg(INTERRUPT_STATUS)).isZero();
        }
    }
}
