package dev.ignition.kvm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.guest.TestGuests;
import dev.ignition.kvm.internal.KvmProvider;
import dev.ignition.testkit.RequiresBackend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Creating, running and closing VMs must not leak descriptors, mappings or threads. */
@Tag("kvm")
@RequiresBackend("kvm")
class ResourceLeakTest {
    /** 200 by default; IGNITION_LEAK_CYCLES lowers it for quick local runs. */
    private static final int CYCLES = Integer.parseInt(System.getenv().getOrDefault("IGNITION_LEAK_CYCLES", "200"));

    private static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    private static long mappings() throws IOException {
        try (Stream<String> s = Files.lines(Path.of("/proc/self/maps"))) {
            return s.count();
        }
    }

    /** Prints every thread's stack if one cycle takes far too long, so a hang explains itself. */
    private static Thread watchdog(long[] cycleStart) {
        Thread w = Thread.ofPlatform().daemon(true).name("leak-test-watchdog").start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    Thread.sleep(5000);
                } catch (InterruptedException e) {
                    return;
                }
                if (System.nanoTime() - cycleStart[0] > 20_000_000_000L) {
                    StringBuilder sb = new StringBuilder("=== a VM cycle is taking over 20 s; threads:\n");
                    Thread.getAllStackTraces().forEach((t, st) -> {
                        sb.append('"').append(t.getName()).append("\" ").append(t.getState()).append('\n');
                        for (StackTraceElement e : st) {
                            sb.append("    at ").append(e).append('\n');
                        }
                    });
                    System.out.println(sb);
                    System.out.flush();
                    cycleStart[0] = System.nanoTime();
                }
            }
        });
        return w;
    }

    private static void cycle(boolean run) {
        try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(2).vcpus(2).guest(TestGuests.exitWith(0)).build()) {
            if (run) {
                vm.start();
                assertThat(vm.awaitExit(Duration.ofSeconds(30))).contains(new VmExit.GuestExit(0));
            }
        }
    }

    private static long vcpuThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("ignition-vcpu-")).count();
    }

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES)
    void twoHundredCreateStartCloseCyclesLeaveFdsAndMappingsUnchanged() throws IOException, InterruptedException {
        for (int i = 0; i < 5; i++) { // warm up: process-wide /dev/kvm fd, class loading, JIT
            cycle(true);
        }
        // Closed VMs are torn down and the shell pool refilled in the background: count when idle.
        assertThat(KvmProvider.awaitBackgroundWork(Duration.ofSeconds(60))).isTrue();
        long fds = openFds();
        long maps = mappings();
        long t0 = System.nanoTime();
        long[] cycleStart = {System.nanoTime()};
        Thread dog = watchdog(cycleStart);
        for (int i = 0; i < CYCLES; i++) {
            cycleStart[0] = System.nanoTime();
            cycle(i % 4 != 3); // every fourth VM is closed without ever starting
            if ((i + 1) % 50 == 0) {
                System.out.printf("%d VM cycles after %.1f s%n", i + 1, (System.nanoTime() - t0) / 1e9);
            }
        }
        dog.interrupt();
        System.out.printf("%d VM cycles in %.1f s%n", CYCLES, (System.nanoTime() - t0) / 1e9);
        assertThat(KvmProvider.awaitBackgroundWork(Duration.ofSeconds(60))).isTrue();
        assertThat(openFds()).as("open file descriptors").isEqualTo(fds);
        // The JVM itself maps and unmaps now and then (code cache, GC, thread stacks kept by
        // glibc); a leak here would be at least one mapping per cycle.
        assertThat(mappings()).as("memory mappings").isBetween(maps - 20, maps + 20);
        assertThat(vcpuThreads()).isZero();
    }
}
