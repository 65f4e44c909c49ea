package dev.ignition.examples;

import dev.ignition.Backends;
import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.guest.TestGuests;
import java.io.PrintStream;
import java.time.Duration;

/**
 * The main demo: boots the {@code hello} guest, shows its console output, how long it took and
 * how it exited. Run with {@code ./ignition demo}.
 *
 * <pre>{@code
 * try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(64).guest(TestGuests.hello())
 *         .consoleOutput(System.out).build()) {
 *     vm.start();
 *     VmExit exit = vm.awaitExit(Duration.ofSeconds(30)).orElseThrow();
 * }
 * }</pre>
 */
public final class HelloGuest {
    private HelloGuest() {}

    public static void main(String[] args) {
        System.exit(run(System.out));
    }

    /** Runs the demo, printing to {@code out}; returns the exit status (2: no backend here). */
    static int run(PrintStream out) {
        if (!Examples.backendAvailable(out)) {
            return Examples.UNAVAILABLE;
        }
        var availability = Backends.availability();
        long t0 = System.nanoTime();
        try (VirtualMachine vm = VirtualMachine.builder()
                .memoryMiB(64)
                .guest(TestGuests.hello())
                .consoleOutput(out)
                .build()) {
            long built = System.nanoTime();
            vm.start();
            VmExit exit = vm.awaitExit(Duration.ofSeconds(30))
                    .orElseThrow(() -> new IllegalStateException("the guest did not exit within 30 s"));
            long done = System.nanoTime();
            out.printf("backend:    %s (%s)%n", vm.backend(), availability.reason());
            out.printf("build VM:   %.2f ms (memory, vCPU-less VM, irqchip)%n", (built - t0) / 1e6);
            out.printf("run guest:  %.2f ms (start to exit, %d console bytes)%n",
                    (done - built) / 1e6, vm.console().bytesWritten());
            out.printf("exit:       %s%n", exit);
            return exit instanceof VmExit.GuestExit g && g.code() == 0 ? 0 : 1;
        }
    }
}
