package dev.ignition.examples;

import dev.ignition.Backends;
import dev.ignition.VirtualMachine;
import dev.ignition.guest.ExecResult;
import dev.ignition.guest.GuestNotBuiltException;
import dev.ignition.guest.LinuxGuest;
import dev.ignition.guest.LinuxGuests;
import dev.ignition.guest.ShellSession;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * Boots the default Linux guest (built by {@code guests/x86_64/build.sh}) and runs commands in it
 * with {@link ShellSession#exec}. Where it cannot run (no usable KVM, a KVM that cannot run stock
 * Linux, or the guest not built) it says why and what to do, and exits with 0. Run with
 * {@code ./ignition example LinuxExec}; pass {@code --force} to try even where the KVM looks
 * unable to run Linux.
 *
 * <pre>{@code
 * try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(256).guest(LinuxGuests.defaultGuest()).build()) {
 *     vm.start();
 *     vm.console().waitFor(LinuxGuests.READY_LINE, Duration.ofMinutes(2));
 *     ShellSession shell = ShellSession.open(vm.console(), Duration.ofMinutes(1));
 *     System.out.print(shell.exec("uname -r").stdoutText());
 * }
 * }</pre>
 */
public final class LinuxExec {
    static final Duration BOOT = Duration.ofMinutes(5);
    static final Duration T = Duration.ofMinutes(2);
    static final String[] COMMANDS = {"uname -sr", "cat /proc/cmdline", "echo $((6 * 7))", "ls /nonexistent"};

    private LinuxExec() {}

    public static void main(String[] args) {
        System.exit(run(System.out, args.length > 0 && args[0].equals("--force")));
    }

    static int run(PrintStream out, boolean force) {
        Optional<String> why = whyNot(force);
        if (why.isPresent()) {
            out.println("This example boots a Linux guest and runs commands in it, but not here: " + why.get());
            return 0;
        }
        LinuxGuest guest = LinuxGuests.defaultGuest();
        long t0 = System.nanoTime();
        try (VirtualMachine vm = VirtualMachine.builder().vcpus(1).memoryMiB(256).guest(guest).build()) {
            vm.start();
            vm.console().waitFor(LinuxGuests.READY_LINE, BOOT);
            ShellSession shell = ShellSession.open(vm.console(), T);
            out.printf("booted to a shell in %s%n", Examples.ms(System.nanoTime() - t0));
            for (String c : COMMANDS) {
                ExecResult r = shell.exec(c, T);
                out.printf("$ %s%n%s%s[exit status %d]%n", c, r.stdoutText(), r.stderrText(), r.exitStatus());
            }
            return 0;
        }
    }

    /** Why the Linux guest cannot run here, if it cannot. */
    static Optional<String> whyNot(boolean force) {
        var kvm = Backends.provider("kvm").map(p -> p.availability());
        if (kvm.isEmpty() || !kvm.get().available()) {
            return Optional.of(kvm.map(a -> "KVM is unavailable: " + a.reason()).orElse("the KVM backend is not on the class path"));
        }
        try {
            LinuxGuests.defaultBuild();
        } catch (GuestNotBuiltException e) {
            return Optional.of("the Linux guest is not built yet. " + e.getMessage());
        }
        if (!force && !hardwareKvm()) {
            return Optional.of("this host's /dev/kvm is not backed by kvm_intel or kvm_amd with VMX/SVM, so it may run"
                    + " freestanding guests but not stock Linux; run it where it is (or inside a nested-KVM runner),"
                    + " or pass --force to try anyway");
        }
        return Optional.empty();
    }

    /** The same check as scripts/test-tiers.sh: a hardware KVM module and VMX or SVM in the CPU flags. */
    private static boolean hardwareKvm() {
        boolean module = Files.isDirectory(Path.of("/sys/module/kvm_intel")) || Files.isDirectory(Path.of("/sys/module/kvm_amd"));
        try {
            String cpu = Files.readString(Path.of("/proc/cpuinfo"));
            return module && cpu.matches("(?s).*\\b(vmx|svm)\\b.*");
        } catch (IOException e) {
            return false;
        }
    }
}
