package dev.ignition.examples;

import dev.ignition.Backends;
import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.guest.TestGuests;
import java.time.Duration;

/**
 * The main demo: boots the {@code hello} guest, shows its console output, how long it took and
 * how it exited. Run with {@code ./ignition demo}.
 */
public final class HelloGuest {
    private HelloGuest() {}

    public static void main(String[] args) {
        var availability = Backends.availability();
        if (!availability.available()) {
            System.err.println("Cannot run a VM here: " + availability.reason());
            System.exit(2);
        }
        long t0 = System.nanoTime();
        try (VirtualMachine vm = VirtualMachine.builder()
                .memoryMiB(64)
                .guest(TestGuests.hello())
                .consoleOutput(System.out)
                .build()) {
            long built = System.nanoTime();
            vm.start();
            VmExit exit = vm.awaitExit(Duration.ofSeconds(30))
                    .orElseThrow(() -> new IllegalStateException("the guest did not exit within 30 s"));
            long done = System.nanoTime();
            System.out.printf("backend:    %s (%s)%n", vm.backend(), availability.reason());
            System.out.printf("build VM:   %.2f ms (memory, vCPU-less VM, irqchip)%n", (built - t0) / 1e6);
            System.out.printf("run guest:  %.2f ms (start to exit, %d console bytes)%n",
                    (done - built) / 1e6, vm.console().bytesWritten());
            System.out.printf("exit:       %s%n", exit);
            if (!(exit instanceof VmExit.GuestExit g) || g.code() != 0) {
                System.exit(1);
            }
        }
    }
}
