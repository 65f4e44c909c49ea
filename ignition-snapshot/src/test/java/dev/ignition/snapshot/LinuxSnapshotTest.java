package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VirtualMachine;
import dev.ignition.guest.ExecResult;
import dev.ignition.guest.GuestBuild;
import dev.ignition.guest.GuestNotBuiltException;
import dev.ignition.guest.LinuxGuests;
import dev.ignition.guest.ShellSession;
import dev.ignition.testkit.RequiresBackend;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A booted Linux guest survives a full snapshot and a diff snapshot: exec works after restore. */
@Tag("linux-guest")
@RequiresBackend("kvm")
class LinuxSnapshotTest {
    /** Generous: under nested emulation the guest boots 10-50x slower than on real hardware. */
    static final Duration BOOT = Duration.ofMinutes(5);
    static final Duration T = Duration.ofMinutes(2);

    @TempDir
    Path dir;

    @Test
    void fullAndDiffSnapshotsOfABootedGuestRestoreWithAWorkingShell() {
        GuestBuild build;
        try {
            build = LinuxGuests.defaultBuild();
        } catch (GuestNotBuiltException e) {
            Assumptions.abort(e.getMessage());
            return;
        }
        try (SnapshotStore store = SnapshotStore.open(dir)) {
            try (VirtualMachine vm = VirtualMachine.builder().vcpus(2).memoryMiB(256).trackDirtyPages(true)
                    .guest(LinuxGuests.defaultGuest()).consoleOutput(System.out).build()) {
                vm.start();
                vm.console().waitFor(LinuxGuests.READY_LINE, BOOT);
                ShellSession shell = ShellSession.open(vm.console(), T);
                assertThat(shell.exec("uname -r", T).stdoutText()).isEqualTo(build.kernelRelease() + "\n");

                vm.pause();
                assertThat(VmSnapshots.snapshot(vm, store, "booted").kind()).isEqualTo(LayerKind.FULL);
                vm.resume();
                assertThat(shell.exec("echo 'kept in tmpfs' > /tmp/marker; sync", T).exitStatus()).isZero();
                vm.pause();
                VmSnapshots.Result diff = VmSnapshots.snapshot(vm, store, "with-file");
                assertThat(diff.kind()).isEqualTo(LayerKind.DIFF);
                assertThat(diff.parent()).isEqualTo("booted");
            }

            try (VirtualMachine vm = VmSnapshots.restore(store, "booted", b -> b.consoleOutput(System.out))) {
                vm.start();
                ShellSession shell = ShellSession.open(vm.console(), T);
                assertThat(shell.exec("uname -r", T).stdoutText()).isEqualTo(build.kernelRelease() + "\n");
                ExecResult missing = shell.exec("cat /tmp/marker", T);
                assertThat(missing.exitStatus()).isEqualTo(1);
                assertThat(shell.exec("grep -c ^processor /proc/cpuinfo", T).stdoutText()).isEqualTo("2\n");
            }

            try (VirtualMachine vm = VmSnapshots.restore(store, "with-file", b -> b.consoleOutput(System.out))) {
                vm.start();
                ShellSession shell = ShellSession.open(vm.console(), T);
                ExecResult present = shell.exec("cat /tmp/marker", T);
                assertThat(present.exitStatus()).isZero();
                assertThat(present.stdoutText()).isEqualTo("kept in tmpfs\n");
                assertThat(shell.exec("exit 7", T).exitStatus()).isEqualTo(7);
            }
        }
    }
}
