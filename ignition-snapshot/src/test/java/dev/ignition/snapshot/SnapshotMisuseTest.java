package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.IllegalVmStateException;
import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.VmImage;
import dev.ignition.device.Disk;
import dev.ignition.guest.TestGuests;
import dev.ignition.testkit.RequiresBackend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Misuse is refused at once with Ignition's exception types, naming what was asked. */
@Tag("kvm")
@RequiresBackend("kvm")
class SnapshotMisuseTest {
    @TempDir
    Path dir;

    private static VirtualMachine.Builder dirtier() {
        return VirtualMachine.builder().memoryMiB(DirtierVm.MIB).guest(TestGuests.dirtier(DirtierVm.PAGES));
    }

    @Test
    void aVmThatNeverStartedOrIsClosedOrExitedCannotBeSnapshotted() {
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            VirtualMachine created = dirtier().build();
            assertThatThrownBy(() -> VmSnapshots.snapshot(created, store, "s")).isInstanceOf(IllegalVmStateException.class)
                    .hasMessage("cannot snapshot a VM that is CREATED");
            created.close();
            assertThatThrownBy(() -> VmSnapshots.snapshot(created, store, "s")).isInstanceOf(IllegalVmStateException.class)
                    .hasMessage("cannot snapshot a VM that is CLOSED");
            try (VirtualMachine vm = DirtierVm.boot()) {
                vm.console().write("q");
                assertThat(vm.awaitExit(DirtierVm.T)).contains(new VmExit.GuestExit(0));
                assertThatThrownBy(() -> VmSnapshots.snapshot(vm, store, "s")).isInstanceOf(IllegalVmStateException.class)
                        .hasMessage("cannot snapshot a VM that is EXITED");
            }
            assertThat(store.list()).isEmpty();
        }
    }

    @Test
    void aDiffThatCannotBeWrittenSaysWhy() {
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            try (VirtualMachine untracked = dirtier().build()) {
                untracked.start();
                assertThatThrownBy(() -> VmSnapshots.snapshot(untracked, store, "d", VmSnapshots.Kind.DIFF))
                        .isInstanceOf(DiffUnavailableException.class)
                        .hasMessageContaining("build the VM with trackDirtyPages(true)");
                assertThat(VmSnapshots.snapshot(untracked, store, "full").kind()).isEqualTo(LayerKind.FULL);
                assertThat(VmSnapshots.snapshot(untracked, store, "again").kind())
                        .as("AUTO without tracking stays full").isEqualTo(LayerKind.FULL);
            }
            try (VirtualMachine tracked = DirtierVm.boot()) {
                assertThatThrownBy(() -> VmSnapshots.snapshot(tracked, store, "d", VmSnapshots.Kind.DIFF))
                        .isInstanceOf(DiffUnavailableException.class)
                        .hasMessageContaining("no previous snapshot of this VM in " + store.directory());
            }
        }
    }

    @Test
    void aClosedVmsConsoleRefusesAtOnce() {
        VirtualMachine vm = DirtierVm.boot();
        vm.close();
        assertThatThrownBy(() -> vm.console().write("x")).isInstanceOf(IllegalVmStateException.class)
                .hasMessage("cannot write to the console of a VM that is CLOSED");
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> vm.console().waitFor("never printed", Duration.ofMinutes(5)))
                .isInstanceOf(IllegalVmStateException.class)
                .hasMessageStartingWith("cannot wait for 'never printed' on the console of a VM that is CLOSED");
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(30));
        assertThat(vm.console().output()).as("the output stays readable").isEqualTo(TestGuests.DIRTIER_READY);
    }

    @Test
    void anImageServesOneVmAndASecondBuildLeavesTheFirstVmsDisksAlone() throws IOException {
        Path disk = Files.write(dir.resolve("disk.img"), new byte[1 << 16]);
        try (SnapshotStore store = SnapshotStore.open(dir.resolve("store"))) {
            try (VirtualMachine vm = dirtier().disk(Disk.of(disk)).build()) {
                vm.start();
                vm.console().waitFor(TestGuests.DIRTIER_READY, DirtierVm.T);
                VmSnapshots.snapshot(vm, store, "s");
            }
            VmImage image = VmSnapshots.image(store, "s");
            Path workingCopy = image.disks().getFirst().image();
            try (VirtualMachine first = VirtualMachine.builder().restoreFrom(image).build()) {
                assertThatThrownBy(() -> VirtualMachine.builder().restoreFrom(image).build())
                        .isInstanceOf(SnapshotException.class)
                        .hasMessageContaining("the image of snapshot 's' was already used to build a VM");
                assertThat(workingCopy).as("the first VM's working disk").exists();
                assertThat(first.memory().size()).isEqualTo(DirtierVm.MIB << 20);
            }
            assertThat(workingCopy).as("deleted when its VM closed").doesNotExist();
        }
    }
}
