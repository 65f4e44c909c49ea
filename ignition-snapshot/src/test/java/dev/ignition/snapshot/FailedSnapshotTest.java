package dev.ignition.snapshot;

import static dev.ignition.snapshot.DirtierVm.assertRestores;
import static dev.ignition.snapshot.DirtierVm.snapshot;
import static dev.ignition.snapshot.DirtierVm.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.IgnitionException;
import dev.ignition.SnapshotMismatchException;
import dev.ignition.VirtualMachine;
import dev.ignition.device.Device;
import dev.ignition.device.PortIoDevice;
import dev.ignition.snapshot.internal.WriteFaults;
import dev.ignition.testkit.RequiresBackend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A snapshot that fails, at any point, loses nothing: the guest rewrites its pages after a full
 * snapshot, one snapshot attempt fails, and the next diff still restores exactly what the guest
 * had (every byte on the host side, and the checksum the guest computes).
 */
@Tag("kvm")
@RequiresBackend("kvm")
class FailedSnapshotTest {
    @TempDir
    Path dir;

    @AfterEach
    void removeFaults() {
        WriteFaults.install(null);
        Thread.interrupted();
    }

    /** One inert port at 0x7000: the tests' devices differ only in their state. */
    abstract static class OnePortDevice implements PortIoDevice {
        @Override
        public int basePort() {
            return 0x7000;
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
        public void write(int offset, int size, long value) {}
    }

    /** A device whose saveState throws while {@link #broken}. */
    static final class FlakyDevice extends OnePortDevice {
        volatile boolean broken;

        @Override
        public String name() {
            return "flaky";
        }

        @Override
        public byte[] saveState() {
            if (broken) {
                throw new IllegalStateException("flaky device cannot save now");
            }
            return new byte[0]; // stateless when it works, so restored VMs need not have it
        }

        @Override
        public void restoreState(byte[] state) {
            Device.requireNoState(this, state);
        }
    }

    /** The attempt that fails, given the VM and the store the test snapshots into. */
    @FunctionalInterface
    interface Attempt {
        ThrowingCallable on(VirtualMachine vm, SnapshotStore store, FlakyDevice device);
    }

    /**
     * Full snapshot of generation A, the guest writes B, {@code failing} fails with
     * {@code expected}, the guest runs on; then a diff restores B exactly and the full one A.
     */
    private void nothingIsLostWhen(Path storeDir, Attempt failing, Class<? extends Throwable> expected,
            String message) {
        FlakyDevice device = new FlakyDevice();
        try (SnapshotStore store = SnapshotStore.open(storeDir); VirtualMachine vm = DirtierVm.boot(device)) {
            write(vm, 'A');
            byte[][] base = snapshot(vm, store, "base");
            write(vm, 'B');
            assertThatThrownBy(failing.on(vm, store, device)).isInstanceOf(expected).hasMessageContaining(message);
            WriteFaults.install(null);
            device.broken = false;
            Thread.interrupted(); // an interrupt the attempt preserved is the test's to clear
            // The guest still runs after the failure; '?' only reads, so it dirties no data page again.
            vm.console().write("?");
            assertThat(vm.console().waitFor("\n", DirtierVm.T)).isEqualTo(DirtierVm.sumLine('B'));

            byte[][] later = snapshot(vm, store, "later");
            assertThat(store.inspect("later").kind()).isEqualTo(LayerKind.DIFF);
            assertThat(store.resolve("later")).hasSize(2);
            assertRestores(store, "later", later, 'B');
            assertRestores(store, "base", base, 'A');
        }
    }

    @Test
    void anInvalidNameIsRefusedBeforeThePause() {
        nothingIsLostWhen(dir, (vm, store, d) -> () -> VmSnapshots.snapshot(vm, store, "../escape"),
                InvalidSnapshotNameException.class, "../escape");
    }

    @Test
    void aConflictIsRefusedBeforeThePause() {
        nothingIsLostWhen(dir, (vm, store, d) -> () -> VmSnapshots.snapshot(vm, store, "base"),
                SnapshotConflictException.class, "'base' already exists");
    }

    @Test
    void aClosedStoreIsRefusedBeforeThePause() {
        nothingIsLostWhen(dir, (vm, store, d) -> {
            SnapshotStore closed = SnapshotStore.open(dir);
            closed.close();
            return () -> VmSnapshots.snapshot(vm, closed, "attempt");
        }, IllegalStateException.class, "is closed");
    }

    @ParameterizedTest
    @EnumSource(WriteFaults.Step.class)
    void anIoErrorAtAnyStepOfTheWrite(WriteFaults.Step step) {
        nothingIsLostWhen(dir, (vm, store, d) -> {
            WriteFaults.install(s -> {
                if (s == step) {
                    throw new IOException("injected I/O error at " + s);
                }
            });
            return () -> VmSnapshots.snapshot(vm, store, "attempt");
        }, SnapshotException.class, "injected I/O error at " + step);
    }

    @Test
    void aDeviceThatCannotSaveItsState() {
        nothingIsLostWhen(dir, (vm, store, d) -> {
            d.broken = true;
            return () -> VmSnapshots.snapshot(vm, store, "attempt");
        }, IgnitionException.class, "flaky device cannot save now");
    }

    /** A device that saves three bytes and, when {@code refuse} is set, rejects any state given back. */
    static final class PickyDevice extends OnePortDevice {
        final boolean refuse;

        PickyDevice(boolean refuse) {
            this.refuse = refuse;
        }

        @Override
        public String name() {
            return "picky";
        }

        @Override
        public byte[] saveState() {
            return new byte[] {1, 2, 3};
        }

        @Override
        public void restoreState(byte[] state) {
            if (refuse) {
                throw new IllegalArgumentException("picky device reads format 9 only");
            }
        }
    }

    @Test
    void aDeviceThatRejectsItsRestoredStateNamesItselfAndKeepsTheCause() throws IOException {
        try (SnapshotStore store = SnapshotStore.open(dir.resolve("store"));
             VirtualMachine vm = DirtierVm.boot(new PickyDevice(false))) {
            VmSnapshots.snapshot(vm, store, "picky");
            assertThatThrownBy(() -> VmSnapshots.restore(store, "picky", b -> b.device(new PickyDevice(true))))
                    .isInstanceOf(SnapshotMismatchException.class)
                    .hasMessageContaining("device 'picky' rejected its snapshot state: picky device reads format 9 only")
                    .cause().isInstanceOf(IllegalArgumentException.class);
            try (VirtualMachine ok = VmSnapshots.restore(store, "picky", b -> b.device(new PickyDevice(false)))) {
                assertThat(ok.state()).as("the store and snapshot stay usable").isNotNull();
            }
        }
    }

    @Test
    void anInterruptWhileTheLayerIsWritten() {
        nothingIsLostWhen(dir, (vm, store, d) -> {
            WriteFaults.install(s -> {
                if (s == WriteFaults.Step.FILES) {
                    Thread.currentThread().interrupt(); // the next file operation is interrupted
                }
            });
            return () -> VmSnapshots.snapshot(vm, store, "attempt");
        }, SnapshotException.class, "attempt");
    }

    @Test
    void anInterruptBeforeTheSnapshot() {
        nothingIsLostWhen(dir, (vm, store, d) -> () -> {
            Thread.currentThread().interrupt();
            VmSnapshots.snapshot(vm, store, "attempt");
        }, IgnitionException.class, "interrupted");
    }

    @Test
    void aFullDisk() throws IOException {
        try (LoopFs fs = LoopFs.create(dir, 16)) {
            Path storeDir = fs.root().resolve("store");
            Path filler = fs.root().resolve("filler");
            nothingIsLostWhen(storeDir, (vm, store, d) -> {
                try {
                    fs.fill(filler, 16 * 1024); // room for the layer's directory, not its pages
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
                return () -> {
                    try {
                        VmSnapshots.snapshot(vm, store, "attempt");
                    } finally {
                        Files.delete(filler);
                    }
                };
            }, SnapshotException.class, "No space left on device");
            try (SnapshotStore store = SnapshotStore.open(storeDir)) {
                assertThat(store.verify().problems()).isEmpty();
                assertThat(store.list()).extracting(SnapshotInfo::name).containsExactly("base", "later");
            }
        }
    }
}
