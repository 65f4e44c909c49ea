package dev.ignition.hvf.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.internal.arm64.Psci;
import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.StateWriter;
import dev.ignition.internal.state.UnsupportedStateVersionException;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VcpuExit;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class SnapshotStateTest {
    static byte[] qValue(int r) {
        byte[] b = new byte[16];
        for (int i = 0; i < 16; i++) {
            b[i] = (byte) (r * 16 + i + 1);
        }
        return b;
    }

    /** Puts distinctive values in every register of vCPU 0 of {@code fake}. */
    static void fill(FakeHvf.Cpu c) {
        for (int r = 0; r < 31; r++) {
            c.x(r, 0x1000L + r);
        }
        c.regs.put(Arm64Regs.PC, 0xffff_8000_0010_0000L);
        c.regs.put(Arm64Regs.CPSR, 0x3c5L);
        c.regs.put(Arm64Regs.FPCR, 0x0300_0000L);
        c.regs.put(Arm64Regs.FPSR, 0x8000_0010L);
        for (Arm64Regs.SysReg r : Arm64Regs.SNAPSHOT_SYS_REGS) {
            if (!r.idRegister() && r.id() != Arm64Regs.MPIDR_EL1) {
                c.sys.put(r.id(), 0x5000_0000L + r.id());
            }
        }
        for (int r = 0; r < 32; r++) {
            c.q[r] = qValue(r);
        }
        for (Arm64Regs.SysReg r : Arm64Regs.SNAPSHOT_ICC_REGS) {
            c.icc.put(r.id(), 0x70L + r.id());
        }
    }

    @Test
    void captureAndRestoreRoundTripInTheRequiredOrder() throws Exception {
        FakeHvf a = new FakeHvf();
        a.missingSysRegs.add(0xde85); // TPIDR2_EL0: a macOS before 15.2
        byte[] vmBlob;
        byte[] cpuBlob;
        long counterAtCapture;
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(a, mem, 1, true);
            Vcpu cpu = vm.createVcpu(0, TestVms.boot());
            fill(a.cpu(0));
            cpuBlob = cpu.captureState();
            counterAtCapture = a.machAbsoluteTime() - vm.vtimerOffset();
            vmBlob = vm.captureState();
            cpu.close();
            vm.close();
        }
        HvfState.Vm vmState = HvfState.Vm.decode(vmBlob);
        assertThat(vmState.gic()).containsExactly(1, 2, 3, 4, 5);
        assertThat(vmState.guestCounter()).isBetween(counterAtCapture - 1_000_000_000L, counterAtCapture + 1_000_000_000L);
        HvfState.Vcpu cpuState = HvfState.Vcpu.decode(cpuBlob);
        assertThat(cpuState.sysRegs()).doesNotContainKey(0xde85).containsKey(0xc290);

        FakeHvf b = new FakeHvf();
        b.missingSysRegs.add(0xde85);
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            byte[] before = new byte[SimdRestore.SCRATCH_BYTES];
            for (int i = 0; i < before.length; i++) {
                before[i] = (byte) (i * 7);
            }
            mem.write(TestVms.RAM, before);
            HvfVm vm = TestVms.vm(b, mem, 1, true);
            Vcpu cpu = vm.createVcpu(0, TestVms.boot());
            assertThatThrownBy(() -> cpu.restoreState(cpuBlob)).hasMessageContaining("VM state");
            Thread.sleep(5); // let the host clock move on: the guest counter must not
            b.calls.clear();
            vm.restoreState(vmBlob);
            long guestCounterNow = b.machAbsoluteTime() - vm.vtimerOffset();
            assertThat(guestCounterNow - vmState.guestCounter()).isBetween(0L, 1_000_000_000L);
            cpu.restoreState(cpuBlob);
            FakeHvf.Cpu c = b.cpu(0);
            // Registers
            for (int r = 0; r < 31; r++) {
                assertThat(c.x(r)).isEqualTo(0x1000L + r);
            }
            assertThat(c.pc()).isEqualTo(0xffff_8000_0010_0000L);
            assertThat(c.reg(Arm64Regs.FPSR)).isEqualTo(0x8000_0010L);
            for (Arm64Regs.SysReg r : Arm64Regs.SNAPSHOT_SYS_REGS) {
                if (!r.idRegister() && r.id() != Arm64Regs.MPIDR_EL1 && r.id() != 0xde85) {
                    assertThat(c.sys.get(r.id())).as(r.name()).isEqualTo(0x5000_0000L + r.id());
                }
            }
            for (int r = 0; r < 32; r++) {
                assertThat(c.q[r]).as("Q" + r).containsExactly(qValue(r));
            }
            for (Arm64Regs.SysReg r : Arm64Regs.SNAPSHOT_ICC_REGS) {
                assertThat(c.icc.get(r.id())).isEqualTo(0x70L + r.id());
            }
            assertThat(c.vtimerOffset).isEqualTo(vm.vtimerOffset());
            assertThat(b.gicStateSet).containsExactly(1, 2, 3, 4, 5);
            // Scratch RAM used by the SIMD stub is put back.
            assertThat(mem.slice(TestVms.RAM, before.length).toArray(ValueLayout.JAVA_BYTE)).containsExactly(before);
            // Order: GIC blob; SIMD stub run; MPIDR then other system registers; timer; ICC registers.
            List<String> log = new ArrayList<>(b.calls);
            int gic = log.indexOf("gic_set_state");
            int stub = log.indexOf("run(0)");
            int mpidr = log.lastIndexOf("sys_set(0,0xc005)");
            int sctlr = log.lastIndexOf("sys_set(0,0xc080)");
            int timer = log.lastIndexOf("vtimer_offset(0)");
            int icc = log.indexOf("icc_set(0,0xc665)");
            assertThat(gic).isNotNegative();
            assertThat(stub).isGreaterThan(gic);
            assertThat(mpidr).isGreaterThan(stub);
            assertThat(sctlr).isGreaterThan(mpidr);
            assertThat(timer).isGreaterThan(sctlr);
            assertThat(icc).isGreaterThan(timer);
            // ID registers equal to the host's are not written.
            assertThat(log).doesNotContain("sys_set(0,0xc000)");
            cpu.close();
            vm.close();
        }
    }

    @Test
    void restoreRulesAreEnforced() {
        FakeHvf a = new FakeHvf();
        byte[] vmBlob;
        byte[] cpu1Blob;
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(a, mem, 2, false);
            Vcpu c0 = vm.createVcpu(0, TestVms.boot());
            assertThatThrownBy(() -> vm.restoreState(new HvfState.Vm(0, 2, new byte[1], Map.of()).encode()))
                    .hasMessageContaining("create all 2 vCPUs");
            Vcpu c1 = CompletableFuture.supplyAsync(() -> vm.createVcpu(1, TestVms.boot())).join();
            vmBlob = vm.captureState();
            cpu1Blob = CompletableFuture.supplyAsync(c1::captureState).join();
            assertThatThrownBy(() -> vm.restoreState(new HvfState.Vm(0, 3, new byte[1], Map.of()).encode()))
                    .hasMessageContaining("3 vCPUs");
            vm.restoreState(vmBlob);
            assertThatThrownBy(() -> c0.restoreState(cpu1Blob)).isInstanceOf(HvfState.InvalidStateException.class)
                    .hasMessageContaining("same index");
            CompletableFuture.runAsync(c1::close).join();
            c0.close();
            vm.close();
        }
    }

    @Test
    void stateBlobsRoundTripAndRejectHostileInput() {
        byte[][] q = new byte[32][16];
        q[3][15] = 9;
        var sys = new LinkedHashMap<Integer, Long>();
        sys.put(Arm64Regs.MPIDR_EL1, 1L);
        sys.put(0xc290, 5L);
        HvfState.Vcpu v = new HvfState.Vcpu(new long[31], 4, 5, 6, 7, sys, q, Map.of(0xc230, 0xf0L),
                Map.of(0x10100, 0x8000_0000L), HvfState.Power.ON_PENDING, 0x4000_0000L, 3);
        byte[] blob = v.encode();
        assertThat(HvfState.Vcpu.decode(blob)).isEqualTo(v);
        rejectsCleanly(blob, "hvf vCPU state", HvfState.Vcpu::decode);
        byte[] trailing = Arrays.copyOf(blob, blob.length + 1);
        assertThatThrownBy(() -> HvfState.Vcpu.decode(trailing)).hasMessageContaining("trailing");
        byte[] hugeCount = vcpuBlob(w -> w.ints(new int[Arm64Regs.SNAPSHOT_SYS_REGS.size() + 1])
                .longs(new long[Arm64Regs.SNAPSHOT_SYS_REGS.size() + 1]));
        assertThatThrownBy(() -> HvfState.Vcpu.decode(hugeCount)).isInstanceOf(CorruptStateException.class)
                .hasMessageContaining("field 'sysRegs.ids': holds " + (Arm64Regs.SNAPSHOT_SYS_REGS.size() + 1)
                        + " elements, at most");
        byte[] unknownReg = vcpuBlob(w -> w.ints(new int[] {0x1234}).longs(new long[] {1}));
        assertThatThrownBy(() -> HvfState.Vcpu.decode(unknownReg)).isInstanceOf(CorruptStateException.class)
                .hasMessage("hvf vCPU state: record 'HVCP' v1, field 'sysRegs': names unknown system register 0x1234");
        byte[] unpaired = vcpuBlob(w -> w.ints(new int[] {Arm64Regs.MPIDR_EL1}).longs(new long[0]));
        assertThatThrownBy(() -> HvfState.Vcpu.decode(unpaired)).hasMessageContaining("1 register ids but 0 values");
        HvfState.Vm vmState = new HvfState.Vm(77, 2, new byte[] {9, 8}, Map.of(GicRegs.GICD_CTLR, 0x12L));
        byte[] vmBlob = vmState.encode();
        assertThat(HvfState.Vm.decode(vmBlob)).isEqualTo(vmState);
        rejectsCleanly(vmBlob, "hvf VM state", HvfState.Vm::decode);
        byte[] badDist = new StateWriter().begin(HvfState.VM_TAG, HvfState.VERSION).u64(1).u32(1).bytes(new byte[0])
                .ints(new int[] {0x7777}).longs(new long[] {0}).end().toByteArray();
        assertThatThrownBy(() -> HvfState.Vm.decode(badDist)).hasMessageContaining("unknown distributor register 0x7777");
        assertThatThrownBy(() -> HvfState.Vm.decode(blob)).hasMessage("hvf VM state: expected a record 'HVVM', found 'HVCP'");
        byte[] noVcpus = new HvfState.Vm(77, 0, new byte[0], Map.of()).encode();
        assertThatThrownBy(() -> HvfState.Vm.decode(noVcpus)).hasMessageContaining("field 'vcpus': 0 is out of range");
        byte[] hugeGic = new StateWriter().begin(HvfState.VM_TAG, HvfState.VERSION).u64(1).u32(1).bytes(new byte[4])
                .end().toByteArray();
        ByteBuffer.wrap(hugeGic).order(ByteOrder.LITTLE_ENDIAN).putInt(10 + 9 + 5 + 1, 1000);
        assertThatThrownBy(() -> HvfState.Vm.decode(hugeGic)).isInstanceOf(CorruptStateException.class)
                .hasMessageContaining("field 'gic'").hasMessageContaining("truncated");
    }

    /**
     * Every truncation, a newer record version and every single-byte corruption of {@code good}
     * fail with a CorruptStateException naming {@code context} (or, for some flips, still decode).
     */
    private static void rejectsCleanly(byte[] good, String context, Consumer<byte[]> decode) {
        for (int n = 0; n < good.length; n++) {
            byte[] cut = Arrays.copyOf(good, n);
            assertThatThrownBy(() -> decode.accept(cut)).as("cut to %d bytes", n)
                    .isInstanceOf(CorruptStateException.class).hasMessageStartingWith(context);
        }
        byte[] newer = good.clone();
        newer[4]++;
        assertThatThrownBy(() -> decode.accept(newer)).isInstanceOf(UnsupportedStateVersionException.class)
                .hasMessage(context + ": record '" + new String(good, 0, 4, StandardCharsets.US_ASCII)
                        + "' has version 2; this build reads version 1");
        for (int i = 0; i < good.length; i++) {
            byte[] bad = good.clone();
            bad[i] ^= (byte) 0xa5;
            try {
                decode.accept(bad);
            } catch (CorruptStateException expected) {
                assertThat(expected.getMessage()).startsWith(context);
            }
        }
    }

    /** A vCPU record that is valid up to its system registers, which {@code sysRegs} writes. */
    private static byte[] vcpuBlob(Consumer<StateWriter> sysRegs) {
        StateWriter w = new StateWriter().begin(HvfState.VCPU_TAG, HvfState.VERSION).longs(new long[31]).u64(0).u64(0)
                .u64(0).u64(0);
        sysRegs.accept(w);
        return w.bytes(new byte[512]).ints(new int[0]).longs(new long[0]).ints(new int[0]).longs(new long[0]).u8(0)
                .u64(0).u64(0).end().toByteArray();
    }

    @Test
    void noVcpuRunsUntilEveryVcpuHasRestored() throws Exception {
        FakeHvf a = new FakeHvf();
        byte[] vmBlob;
        byte[] blob0;
        byte[] blob1;
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(a, mem, 2, false);
            Vcpu c0 = vm.createVcpu(0, TestVms.boot());
            ExecutorService t1 = Executors.newSingleThreadExecutor();
            Vcpu c1 = t1.submit(() -> vm.createVcpu(1, TestVms.boot())).get();
            vmBlob = vm.captureState();
            blob0 = c0.captureState();
            blob1 = t1.submit(c1::captureState).get();
            t1.submit(c1::close).get();
            t1.shutdown();
            c0.close();
            vm.close();
        }
        FakeHvf b = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(b, mem, 2, false);
            Vcpu c0 = vm.createVcpu(0, TestVms.boot());
            ExecutorService t1 = Executors.newSingleThreadExecutor();
            Vcpu c1 = t1.submit(() -> vm.createVcpu(1, TestVms.boot())).get();
            vm.restoreState(vmBlob);
            c0.restoreState(blob0);
            long[] restoredAt = new long[1];
            Future<?> late = t1.submit(() -> {
                Thread.sleep(200);
                restoredAt[0] = System.nanoTime();
                c1.restoreState(blob1);
                return null;
            });
            b.script(0, c -> { c.x(0, Psci.SYSTEM_OFF); return FakeHvf.exception(TestVms.hvc(0), 0); });
            VcpuExit e = c0.run();
            long ranAt = System.nanoTime();
            late.get();
            assertThat(e).isInstanceOf(VcpuExit.Shutdown.class);
            assertThat(ranAt).isGreaterThan(restoredAt[0]);
            assertThatThrownBy(() -> c0.restoreState(blob0)).hasMessageContaining("already run");
            t1.submit(c1::close).get();
            t1.shutdown();
            c0.close();
            vm.close();
        }
    }

    @Test
    void aRefusedGicBlobFallsBackToRegisterLevelRestoreInOrder() {
        FakeHvf a = new FakeHvf();
        byte[] vmBlob;
        byte[] cpuBlob;
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(a, mem, 1, false);
            Vcpu cpu = vm.createVcpu(0, TestVms.boot());
            fill(a.cpu(0));
            int i = 0;
            for (int reg : GicRegs.DISTRIBUTOR) {
                a.distributor.put(reg, 0x100L + i++);
            }
            for (int reg : GicRegs.REDISTRIBUTOR) {
                a.cpu(0).redist.put(reg, 0x200L + reg);
            }
            cpuBlob = cpu.captureState();
            vmBlob = vm.captureState();
            cpu.close();
            vm.close();
        }
        FakeHvf b = new FakeHvf();
        b.gicStateRejected = true;
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(b, mem, 1, false);
            Vcpu cpu = vm.createVcpu(0, TestVms.boot());
            b.calls.clear();
            vm.restoreState(vmBlob);
            cpu.restoreState(cpuBlob);
            assertThat(b.distributor).isEqualTo(a.distributor);
            assertThat(b.cpu(0).redist).isEqualTo(a.cpu(0).redist);
            List<String> log = new ArrayList<>(b.calls);
            // configuration before pending, enables and CTLR last; redistributor before the ICC registers
            assertThat(log.indexOf("gicd_set(0xc08)")).isLessThan(log.indexOf("gicd_set(0x204)"));
            assertThat(log.indexOf("gicd_set(0x204)")).isLessThan(log.indexOf("gicd_set(0x104)"));
            assertThat(log.indexOf("gicd_set(0x0)")).isEqualTo(log.lastIndexOf("gicd_set(0x0)"));
            assertThat(log.indexOf("gicd_set(0x104)")).isLessThan(log.indexOf("gicd_set(0x0)"));
            assertThat(log.indexOf("gicr_set(0,0x10c04)")).isLessThan(log.indexOf("gicr_set(0,0x10200)"));
            assertThat(log.indexOf("gicr_set(0,0x10100)")).isLessThan(log.indexOf("icc_set(0,0xc665)"));
            cpu.close();
            vm.close();
        }
        // Accepted blob: no register-level writes at all.
        FakeHvf c = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(c, mem, 1, false);
            Vcpu cpu = vm.createVcpu(0, TestVms.boot());
            vm.restoreState(vmBlob);
            cpu.restoreState(cpuBlob);
            assertThat(c.calls).noneMatch(x -> x.startsWith("gicd_set") || x.startsWith("gicr_set"));
            cpu.close();
            vm.close();
        }
    }
}
