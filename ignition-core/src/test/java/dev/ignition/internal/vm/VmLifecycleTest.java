package dev.ignition.internal.vm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.IgnitionException;
import dev.ignition.IllegalVmStateException;
import dev.ignition.VmExit;
import dev.ignition.VmState;
import dev.ignition.device.Disk;
import dev.ignition.device.MmioDevice;
import dev.ignition.internal.device.DeviceBus;
import dev.ignition.internal.device.SnapshotParticipant;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.BootState;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VcpuExit;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The lifecycle and the capture handle over a hypervisor without a hypervisor: vCPUs that only
 * leave the guest when kicked, so every state change is the lifecycle's own doing.
 */
class VmLifecycleTest {
    private final GuestMemory memory = GuestRam.allocateX86(2 << 20);
    private final FakeVm hv = new FakeVm();
    private final DeviceBus bus = new DeviceBus();
    private final List<VmState> ends = new CopyOnWriteArrayList<>();
    private final List<VmLifecycle> lifecycles = new ArrayList<>();

    @AfterEach
    void tearDown() {
        lifecycles.forEach(VmLifecycle::stop);
        memory.close();
    }

    private VmLifecycle lifecycle(int vcpus) {
        return lifecycle(vcpus, null, null);
    }

    private VmLifecycle lifecycle(int vcpus, List<byte[]> vcpuStates, byte[] vmState) {
        VmLifecycle l = new VmLifecycle(hv, new BootState.Restored(), bus, vcpus, vcpuStates, vmState, ends::add);
        lifecycles.add(l);
        return l;
    }

    @Test
    void startPauseResumeStopAndClose() {
        VmLifecycle l = lifecycle(2);
        assertThat(l.state()).isEqualTo(VmState.CREATED);
        l.start();
        assertThat(l.state()).isEqualTo(VmState.RUNNING);
        assertThat(hv.created).hasValue(2);
        l.pause();
        assertThat(l.state()).isEqualTo(VmState.PAUSED);
        l.resume();
        assertThat(l.state()).isEqualTo(VmState.RUNNING);

        assertThat(l.stop()).isTrue();
        assertThat(l.exit()).contains(new VmExit.Stopped());
        assertThat(l.state()).isEqualTo(VmState.EXITED);
        assertThat(ends).containsExactly(VmState.EXITED);
        assertThat(hv.closedVcpus).hasValue(2); // every vCPU thread ended and closed its vCPU
        l.closed();
        assertThat(l.state()).isEqualTo(VmState.CLOSED);
        assertThat(l.stop()).isFalse();
        assertThatThrownBy(l::start).isInstanceOf(IllegalVmStateException.class);
    }

    @Test
    void theFirstFinishWins() {
        VmLifecycle l = lifecycle(1);
        l.start();
        l.finish(new VmExit.GuestExit(3));
        l.finish(new VmExit.Reset());
        assertThat(l.awaitExit(Duration.ofSeconds(5))).contains(new VmExit.GuestExit(3));
        l.pause(); // an exited VM does not pause, and says nothing
        assertThat(l.state()).isEqualTo(VmState.EXITED);
    }

    @Test
    void aPreparedRestoreRestoresVmThenVcpusAndTellsDevicesBeforeTheGuestRuns() {
        Flushing dev = new Flushing();
        bus.add(dev);
        VmLifecycle l = lifecycle(2, List.of(bytes("a"), bytes("b")), bytes("vm"));
        l.prepareStart();
        assertThat(l.state()).isEqualTo(VmState.CREATED);
        // The VM-wide state first; then each vCPU's, on its own thread, in any order.
        assertThat(hv.events.getFirst()).isEqualTo("restore vm");
        assertThat(hv.events.subList(1, hv.events.size())).containsExactlyInAnyOrder("restore a", "restore b");
        assertThat(dev.restored).hasValue(1);
        l.prepareStart(); // idempotent
        assertThat(dev.restored).hasValue(1);
        l.start();
        assertThat(l.state()).isEqualTo(VmState.RUNNING);
        assertThat(hv.events).hasSize(3);
    }

    @Test
    void aFailedVmRestoreEndsTheVmAndReachesTheCaller() {
        hv.refuseRestore = true;
        VmLifecycle l = lifecycle(1, List.of(bytes("a")), bytes("vm"));
        assertThatThrownBy(l::start).hasMessageContaining("no restore here");
        assertThat(l.exit()).get().isInstanceOf(VmExit.Failed.class);
    }

    @Test
    void aCaptureHoldsThePauseAndResumesARunningVmWhenClosed() {
        Flushing dev = new Flushing();
        bus.add(dev);
        VmLifecycle l = lifecycle(2);
        l.start();
        DirtyLog log = new DirtyLog(memory, hv, false);
        List<Disk> disks = List.of();
        try (Capture c = Capture.take(l, bus, hv, log, disks)) {
            assertThat(l.state()).isEqualTo(VmState.PAUSED);
            assertThat(c.vcpus()).extracting(VmLifecycleTest::string).containsExactly("vcpu0", "vcpu1");
            assertThat(string(c.vm())).isEqualTo("vm-state");
            assertThat(c.devices()).containsOnlyKeys("flushing");
            assertThat(c.dirty()).isNull();
            assertThat(dev.flushes).hasValue(1);
            c.published();
        }
        assertThat(l.state()).isEqualTo(VmState.RUNNING);
    }

    @Test
    void aCaptureOfAPausedVmLeavesItPaused() {
        VmLifecycle l = lifecycle(1);
        l.start();
        l.pause();
        try (Capture c = Capture.take(l, bus, hv, new DirtyLog(memory, hv, false), List.of())) {
            assertThat(c.vcpus()).hasSize(1);
        }
        assertThat(l.state()).isEqualTo(VmState.PAUSED);
    }

    @Test
    void vcpusAreCapturedOnTheCallersThreadWhenTheBackendAllowsIt() {
        hv.anyThread = true;
        VmLifecycle l = lifecycle(2);
        l.start();
        try (Capture c = Capture.take(l, bus, hv, new DirtyLog(memory, hv, false), List.of())) {
            assertThat(c.vcpus()).hasSize(2);
        }
        assertThat(hv.captureThreads).containsOnly(Thread.currentThread().getName());
    }

    @Test
    void aFailedCaptureResumesTheVm() {
        bus.add(new Flushing() {
            @Override
            public byte[] saveState() {
                throw new IllegalStateException("cannot");
            }
        });
        VmLifecycle l = lifecycle(1);
        l.start();
        assertThatThrownBy(() -> Capture.take(l, bus, hv, new DirtyLog(memory, hv, false), List.of()))
                .isInstanceOf(IgnitionException.class).hasMessageContaining("device 'flushing' failed to save its state");
        assertThat(l.state()).isEqualTo(VmState.RUNNING);
    }

    @Test
    void aCaptureOfAVmThatIsNotRunningIsRefused() {
        VmLifecycle l = lifecycle(1);
        assertThatThrownBy(() -> Capture.take(l, bus, hv, new DirtyLog(memory, hv, false), List.of()))
                .isInstanceOf(IllegalVmStateException.class);
        l.start();
        l.finish(new VmExit.GuestExit(0));
        assertThatThrownBy(() -> Capture.take(l, bus, hv, new DirtyLog(memory, hv, false), List.of()))
                .isInstanceOf(IllegalVmStateException.class).hasMessageContaining("snapshot");
    }

    @Test
    void dirtyPagesOfAnUnpublishedCaptureComeBackInTheNext() {
        VmLifecycle l = lifecycle(1);
        l.start();
        DirtyLog log = new DirtyLog(memory, hv, true);
        hv.dirty.add(new long[] {0b101});
        try (Capture c = Capture.take(l, bus, hv, log, List.of())) {
            assertThat(c.dirty()[0][0]).isEqualTo(0b101);
            // not published: the write failed
        }
        hv.dirty.add(new long[] {0b1000});
        memory.write(0x1000 * 6, new byte[] {1}); // a host write: page 6
        try (Capture c = Capture.take(l, bus, hv, log, List.of())) {
            assertThat(c.dirty()[0][0]).isEqualTo(0b1001101);
            assertThat(c.dirty()[0]).hasSize((int) ((memory.pagesIn(memory.regions().get(0)) + 63) / 64));
            c.published();
        }
        try (Capture c = Capture.take(l, bus, hv, log, List.of())) {
            assertThat(c.dirty()[0]).containsOnly(0L);
            c.published();
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static String string(byte[] b) {
        return new String(b, StandardCharsets.US_ASCII);
    }

    /** A device with state that counts its flushes and restores. */
    private static class Flushing implements MmioDevice, SnapshotParticipant {
        final AtomicInteger flushes = new AtomicInteger();
        final AtomicInteger restored = new AtomicInteger();

        @Override
        public String name() {
            return "flushing";
        }

        @Override
        public long baseAddress() {
            return 0xd000_0000L;
        }

        @Override
        public long length() {
            return 0x1000;
        }

        @Override
        public long read(long offset, int size) {
            return 0;
        }

        @Override
        public void write(long offset, int size, long value) {}

        @Override
        public byte[] saveState() {
            return bytes("dev");
        }

        @Override
        public void restoreState(byte[] state) {}

        @Override
        public void flushForSnapshot() {
            flushes.incrementAndGet();
        }

        @Override
        public void afterRestore() {
            restored.incrementAndGet();
        }
    }

    private static final class FakeVm implements HypervisorVm {
        final AtomicInteger created = new AtomicInteger();
        final AtomicInteger closedVcpus = new AtomicInteger();
        final List<String> events = new CopyOnWriteArrayList<>();
        final List<String> captureThreads = new CopyOnWriteArrayList<>();
        final Queue<long[]> dirty = new ConcurrentLinkedQueue<>();
        volatile boolean anyThread;
        volatile boolean refuseRestore;

        @Override
        public Vcpu createVcpu(int index, BootState boot) {
            created.incrementAndGet();
            return new FakeVcpu(index, this);
        }

        @Override
        public void setIrqLine(int irq, boolean high) {}

        @Override
        public long[] fetchDirtyPages(int regionIndex) {
            long[] d = dirty.poll();
            return d != null ? d : new long[1];
        }

        @Override
        public byte[] captureState() {
            return bytes("vm-state");
        }

        @Override
        public void restoreState(byte[] state) {
            if (refuseRestore) {
                throw new IllegalStateException("no restore here");
            }
            events.add("restore " + string(state));
        }

        @Override
        public void close() {}
    }

    /** Stays in the "guest" until kicked. */
    private static final class FakeVcpu implements Vcpu {
        private final int index;
        private final FakeVm vm;
        private final AtomicBoolean exitRequested = new AtomicBoolean();

        FakeVcpu(int index, FakeVm vm) {
            this.index = index;
            this.vm = vm;
        }

        @Override
        public int index() {
            return index;
        }

        @Override
        public VcpuExit run() {
            while (!exitRequested.getAndSet(false)) {
                LockSupport.parkNanos(200_000);
            }
            return new VcpuExit.Interrupted();
        }

        // Never called: this vCPU makes no port or MMIO reads.
        public void completeRead(long value) {}

        @Override
        public void requestExit() {
            exitRequested.set(true);
        }

        @Override
        public boolean capturableFromAnyThread() {
            return vm.anyThread;
        }

        @Override
        public byte[] captureState() {
            vm.captureThreads.add(Thread.currentThread().getName());
            return bytes("vcpu" + index);
        }

        @Override
        public void restoreState(byte[] state) {
            vm.events.add("restore " + string(state));
        }

        @Override
        public void close() {
            vm.closedVcpus.incrementAndGet();
        }
    }
}
