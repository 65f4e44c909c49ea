package dev.ignition.internal.vm;

import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Platform threads for vCPU loops, kept for a while after their VM closes and reused by the next
 * VM. Creating a thread costs a {@code clone} and the first touches of its stack: 0.3 ms on KVM's
 * PVM flavour, a fifth of what starting a small VM takes there. A thread runs one loop at a time,
 * from the vCPU's creation to its close (hypervisors that bind a vCPU to its thread see one
 * thread), named {@code ignition-vcpu-N} while it does; idle, it is {@value #IDLE_NAME}.
 */
final class VcpuThreads {
    static final String IDLE_NAME = "ignition-spare-thread";
    /** Idle threads end after this long without a VM to run. */
    private static final long KEEP_ALIVE_SECONDS = 30;

    private static final ThreadPoolExecutor POOL = new ThreadPoolExecutor(0, Integer.MAX_VALUE,
            KEEP_ALIVE_SECONDS, TimeUnit.SECONDS, new SynchronousQueue<>(),
            Thread.ofPlatform().name(IDLE_NAME).daemon(true).factory());

    private VcpuThreads() {}

    /**
     * Runs {@code loop} on a spare thread (or a new one) named {@code name}; the loop calls
     * {@link #idle()} last, before it tells anyone it is done.
     */
    static void start(String name, Runnable loop) {
        POOL.execute(() -> {
            Thread.currentThread().setName(name);
            loop.run();
        });
    }

    /** Marks the calling thread spare again: its idle name, no interrupt pending. */
    static void idle() {
        Thread.interrupted(); // a spare thread starts its next loop uninterrupted
        Thread.currentThread().setName(IDLE_NAME);
    }
}
