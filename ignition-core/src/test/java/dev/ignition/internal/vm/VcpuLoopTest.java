package dev.ignition.internal.vm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VmExit;
import dev.ignition.device.MmioDevice;
import dev.ignition.device.PortIoDevice;
import dev.ignition.internal.device.DeviceBus;
import dev.ignition.spi.BootState;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VcpuExit;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/** The vCPU loop dispatches exits to the bus and answers each read through the exit's own completion. */
class VcpuLoopTest {
    /** Port device at 0x60..0x63: reads answer 0x160 + offset, so each answer is traceable. */
    static final class Ports implements PortIoDevice {
        final List<String> writes;

        Ports(List<String> writes) {
            this.writes = writes;
        }

        @Override public String name() { return "ports"; }
        @Override public byte[] saveState() { return new byte[0]; }
        @Override public void restoreState(byte[] state) {}
        @Override public void close() {}
        @Override public int basePort() { return 0x60; }
        @Override public int portCount() { return 4; }
        @Override public long read(int offset, int size) { return 0x160 + offset; }
        @Override public void write(int offset, int size, long value) { writes.add("port " + offset + "=" + value); }
    }

    /** MMIO device at 0xd0000000: reads answer 0x100 + offset. */
    static final class Registers implements MmioDevice {
        final List<String> writes;

        Registers(List<String> writes) {
            this.writes = writes;
        }

        @Override public String name() { return "registers"; }
        @Override public byte[] saveState() { return new byte[0]; }
        @Override public void restoreState(byte[] state) {}
        @Override public void close() {}
        @Override public long baseAddress() { return 0xd000_0000L; }
        @Override public long length() { return 0x1000; }
        @Override public long read(long offset, int size) { return 0x100 + offset; }
        @Override public void write(long offset, int size, long value) { writes.add("mmio " + offset + "=" + value); }
    }

    /** Plays exits; records what each read was answered with, refusing answers not for its pending read. */
    static final class ScriptedVcpu implements Vcpu {
        final Deque<Function<VcpuExit.ReadCompletion, VcpuExit>> script = new ArrayDeque<>();
        final List<Long> answers = new ArrayList<>();
        final VcpuExit.ReadCompletion completion = this::complete;
        VcpuExit.@Nullable Read pending;

        @Override public int index() { return 0; }

        @Override
        public VcpuExit run() {
            assertThat(pending).as("run() with a read unanswered").isNull();
            VcpuExit e = script.isEmpty() ? new VcpuExit.Shutdown("script done") : script.poll().apply(completion);
            if (e instanceof VcpuExit.Read r) {
                pending = r;
            }
            return e;
        }

        private void complete(VcpuExit.Read exit, long value) {
            if (exit != pending) {
                throw new IllegalStateException(exit + " is not the pending read");
            }
            pending = null;
            answers.add(value);
        }

        @Override public void requestExit() {}
        @Override public void close() {}
    }

    @Test
    void readsAreAnsweredThroughTheirExitAndWritesReachTheBus() {
        List<String> writes = new ArrayList<>();
        DeviceBus bus = new DeviceBus();
        bus.add(new Ports(writes));
        bus.add(new Registers(writes));
        ScriptedVcpu cpu = new ScriptedVcpu();
        cpu.script.add(c -> new VcpuExit.PortIn(0x62, 2, c));
        cpu.script.add(c -> new VcpuExit.PortOut(0x61, 1, 7));
        cpu.script.add(c -> new VcpuExit.MmioRead(0xd000_0010L, 4, c));
        cpu.script.add(c -> new VcpuExit.MmioWrite(0xd000_0020L, 4, 9));
        List<VmExit> finished = new ArrayList<>();
        VcpuLoop loop = new VcpuLoop(0, vmOf(cpu), new BootState.Restored(), bus, new VcpuLoop.Host() {
            @Override public void finish(VmExit why) { finished.add(why); }
            @Override public boolean awaitRunnable(VcpuLoop l) { return finished.isEmpty(); }
            @Override public void vcpuStopped() {}
        }, null);
        loop.release();
        loop.run();
        assertThat(cpu.answers).containsExactly(0x162L, 0x110L);
        assertThat(writes).containsExactly("port 1=7", "mmio 32=9");
        assertThat(finished).containsExactly(new VmExit.Shutdown("script done"));
    }

    static HypervisorVm vmOf(Vcpu cpu) {
        return new HypervisorVm() {
            @Override public Vcpu createVcpu(int index, BootState boot) { return cpu; }
            @Override public void setIrqLine(int irq, boolean high) {}
            @Override public long[] fetchDirtyPages(int regionIndex) { return new long[0]; }
            @Override public void close() {}
        };
    }
}
