package dev.ignition.kvm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VirtualMachine;
import dev.ignition.guest.ExecResult;
import dev.ignition.guest.GuestBuild;
import dev.ignition.guest.GuestNotBuiltException;
import dev.ignition.guest.LinuxGuests;
import dev.ignition.guest.ShellSession;
import dev.ignition.testkit.RequiresBackend;
import java.io.PrintStream;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Boots the default Linux guest (guests/x86_64/build.sh) to a shell and runs commands in it. */
@Tag("linux-guest")
@RequiresBackend("kvm")
class LinuxGuestBootTest {
    /** Generous: under nested emulation the guest boots 10-50x slower than on real hardware. */
    static final Duration BOOT = Duration.ofMinutes(5);
    static final Duration T = Duration.ofMinutes(2);

    @Test
    void bootsToAShellAndExecRoundTrips() {
        GuestBuild build;
        try {
            build = LinuxGuests.defaultBuild();
        } catch (GuestNotBuiltException e) {
            Assumptions.abort(e.getMessage());
            return;
        }
        PrintStream log = System.out;
        try (VirtualMachine vm = VirtualMachine.builder().vcpus(2).memoryMiB(256).guest(LinuxGuests.defaultGuest())
                .consoleOutput(log).build()) {
            vm.start();
            // Probing only once init is up keeps probes from piling up in the UART while the kernel boots.
            vm.console().waitFor(LinuxGuests.READY_LINE, BOOT);
            ShellSession shell = ShellSession.open(vm.console(), T);
            assertThat(vm.bootTime()).as("the init pokes the boot timer before the shell starts").isPresent();
            log.println("\n[test] guest boot time (boot-timer write): " + vm.bootTime().orElseThrow());

            assertThat(shell.exec("uname -r", T).stdoutText()).isEqualTo(build.kernelRelease() + "\n");
            assertThat(shell.exec("exit 42", T).exitStatus()).isEqualTo(42);
            ExecResult r = shell.exec("printf 'line 1\\nline 2\\r\\n\\000\\001\\377end'; echo oops >&2; false", T);
            assertThat(r.stdout()).isEqualTo(new byte[] {'l', 'i', 'n', 'e', ' ', '1', '\n', 'l', 'i', 'n', 'e', ' ', '2',
                '\r', '\n', 0, 1, (byte) 0xff, 'e', 'n', 'd'});
            assertThat(r.stderrText()).isEqualTo("oops\n");
            assertThat(r.exitStatus()).isEqualTo(1);
            assertThat(shell.exec("grep -c ^processor /proc/cpuinfo", T).stdoutText()).isEqualTo("2\n");
        }
    }
}
