package dev.ignition.kvm.internal;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The kick signal must never terminate the process, whichever thread it reaches. */
class ThreadSignalsTest {
    @Test
    void aKickToAThreadThatDoesNotBlockItIsHarmless() throws Exception {
        int[] tid = new int[1];
        Thread t = Thread.ofPlatform().start(() -> {
            tid[0] = ThreadSignals.gettid();
            try {
                Thread.sleep(500); // an ordinary Java thread: the kick signal is not blocked here
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        while (tid[0] == 0) {
            Thread.onSpinWait();
        }
        ThreadSignals.signalThread(tid[0]); // with the default action this would kill the JVM
        t.join();
        assertThat(t.isAlive()).isFalse();
    }

    @Test
    void aKickToABlockingThreadStaysPendingUntilDrained() throws Exception {
        Thread t = Thread.ofPlatform().start(() -> {
            ThreadSignals.blockKickAndGetRunMask();
            ThreadSignals.signalThread(ThreadSignals.gettid());
            ThreadSignals.drainKick();
        });
        t.join();
        assertThat(t.isAlive()).isFalse();
    }
}
