package dev.ignition.kvm.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ignition.internal.posix.Libc;
import org.junit.jupiter.api.Test;

/** The kick signal never terminates the process, even when a thread has it unblocked. */
class ThreadSignalsTest {
    @Test
    void aKickDeliveredToAThreadThatDoesNotBlockItIsAbsorbed() throws InterruptedException {
        assumeTrue(Libc.OS == Libc.Os.LINUX, "tgkill and real-time signals are Linux's");
        int[] tid = new int[1];
        // A fresh platform thread: the kick signal is not blocked there, so it is delivered at once.
        // With the default disposition (not "ignore") this kills the test JVM ("Real-time signal 6").
        Thread t = Thread.ofPlatform().start(() -> {
            tid[0] = ThreadSignals.gettid();
            for (int i = 0; i < 100; i++) {
                ThreadSignals.kick(tid[0]);
            }
        });
        t.join();
        assertThat(tid[0]).isPositive();
        assertThat(t.isAlive()).isFalse();
    }
}
