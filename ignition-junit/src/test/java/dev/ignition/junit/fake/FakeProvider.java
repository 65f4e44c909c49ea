package dev.ignition.junit.fake;

import dev.ignition.Availability;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.Architecture;
import dev.ignition.spi.BootState;
import dev.ignition.spi.HypervisorProvider;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VcpuExit;
import dev.ignition.spi.VmConfig;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import dev.ignition.device.InterruptLine;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * A hypervisor backend without a hypervisor, for host tests of the extension: its vCPU behaves
 * like {@code TestGuests.echo()} by driving the VM's real UART through port exits (prints
 * {@link #READY}, then echoes each byte; 0x04 exits with code 0) and counts the bytes it echoed
 * in guest memory at {@link #ECHO_COUNT}. Its state survives snapshot and restore.
 */
public final class FakeProvider implements HypervisorProvider {
    public static final String NAME = "fake";
    public static final String READY = "echo ready\n";
    public static final long ECHO_COUNT = 0x30_0000;
    private static final int COM1 = 0x3f8;

    /** Why the backend is unavailable, or null when it is available. */
    public static volatile @Nullable String unavailableReason;
    /** VMs created and not yet closed. */
    public static final AtomicInteger LIVE_VMS = new AtomicInteger();
    /** VMs ever created. */
    public static final AtomicInteger CREATED_VMS = new AtomicInteger();
    /** Whether the fake offers {@link HypervisorVm#edgeInterruptLine} (like KVM's irqfd) or not (like HVF). */
    public static volatile boolean offerEdgeLines;
    /** Every irq a VM asked an edge line for, in order. */
    public static final List<Integer> EDGE_LINE_REQUESTS = new CopyOnWriteArrayList<>();
    /** Edges raised through the fake's edge lines. */
    public static final AtomicInteger EDGES = new AtomicInteger();

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Architecture architecture() {
        return Architecture.X86_64;
    }

    @Override
    public Availability availability() {
        String why = unavailableReason;
        return why == null ? Availability.available(NAME, "a fake for tests") : Availability.unavailable(NAME, why);
    }

    @Override
    public HypervisorVm createVm(VmConfig config) {
        LIVE_VMS.incrementAndGet();
        CREATED_VMS.incrementAndGet();
        return new FakeVm(config.memory());
    }

    private static final class FakeVm implements HypervisorVm {
        private final GuestMemory memory;
        private final AtomicBoolean closed = new AtomicBoolean();

        FakeVm(GuestMemory memory) {
            this.memory = memory;
        }

        @Override
        public Vcpu createVcpu(int index, BootState boot) {
            return new FakeVcpu(index, memory);
        }

        @Override
        public void setIrqLine(int irq, boolean high) {}

        @Override
        public Optional<InterruptLine> edgeInterruptLine(int irq) {
            EDGE_LINE_REQUESTS.add(irq);
            return offerEdgeLines ? Optional.of(high -> {
                if (high) {
                    EDGES.incrementAndGet();
                }
            }) : Optional.empty();
        }

        @Override
        public long[] fetchDirtyPages(int regionIndex) {
            return new long[(int) ((memory.pagesIn(memory.regions().get(regionIndex)) + 63) / 64)];
        }

        @Override
        public byte[] captureState() {
            return "fake-vm".getBytes(StandardCharsets.US_ASCII);
        }

        @Override
        public void restoreState(byte[] state) {
            if (!new String(state, StandardCharsets.US_ASCII).equals("fake-vm")) {
                throw new IllegalArgumentException("not a fake VM state");
            }
        }

        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                LIVE_VMS.decrementAndGet();
            }
        }
    }

    /** The echo guest as a state machine over port exits. */
    private static final class FakeVcpu implements Vcpu {
        private static final int PRINT = 0, POLL = 1, READ = 2, ECHO = 3, DONE = 4;
        private final int index;
        private final GuestMemory memory;
        private final AtomicBoolean exitRequested = new AtomicBoolean();
        private final byte[] ready = READY.getBytes(StandardCharsets.US_ASCII);
        private int phase = PRINT;
        private int printed;
        private int received;
        private final VcpuExit.ReadCompletion completion = this::completeRead;
        private VcpuExit.@Nullable Read pending;

        FakeVcpu(int index, GuestMemory memory) {
            this.index = index;
            this.memory = memory;
        }

        @Override
        public int index() {
            return index;
        }

        @Override
        public VcpuExit run() {
            if (pending != null) {
                throw new IllegalStateException("vCPU " + index + ": a read is not answered");
            }
            if (exitRequested.getAndSet(false)) {
                return new VcpuExit.Interrupted();
            }
            VcpuExit exit = switch (phase) {
                case PRINT -> {
                    byte b = ready[printed++];
                    if (printed == ready.length) {
                        phase = POLL;
                    }
                    yield new VcpuExit.PortOut(COM1, 1, b & 0xff);
                }
                case POLL -> new VcpuExit.PortIn(COM1 + 5, 1, completion);
                case READ -> new VcpuExit.PortIn(COM1, 1, completion);
                case ECHO -> {
                    phase = POLL;
                    if (received == 0x04) {
                        phase = DONE;
                        yield new VcpuExit.PortOut(0xf4, 1, 0);
                    }
                    memory.writeLong(ECHO_COUNT, memory.readLong(ECHO_COUNT) + 1);
                    yield new VcpuExit.PortOut(COM1, 1, received);
                }
                default -> new VcpuExit.Halted();
            };
            if (exit instanceof VcpuExit.Read r) {
                pending = r;
            }
            return exit;
        }

        private void completeRead(VcpuExit.Read exit, long value) {
            if (exit != pending) {
                throw new IllegalStateException("vCPU " + index + ": " + exit + " is not the pending read");
            }
            pending = null;
            if (phase == POLL) {
                if ((value & 1) != 0) {
                    phase = READ;
                } else {
                    LockSupport.parkNanos(100_000); // a real guest would spin here
                }
            } else if (phase == READ) {
                received = (int) (value & 0xff);
                phase = ECHO;
            }
        }

        @Override
        public void requestExit() {
            exitRequested.set(true);
        }

        @Override
        public byte[] captureState() {
            return ByteBuffer.allocate(12).putInt(phase).putInt(printed).putInt(received).array();
        }

        @Override
        public void restoreState(byte[] state) {
            ByteBuffer b = ByteBuffer.wrap(state);
            phase = b.getInt();
            printed = b.getInt();
            received = b.getInt();
        }

        @Override
        public void close() {}
    }
}
