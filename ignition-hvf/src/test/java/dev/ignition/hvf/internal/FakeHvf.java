package dev.ignition.hvf.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * A scripted stand-in for Hypervisor.framework: keeps registers per vCPU, records every call in
 * order, and answers {@code hv_vcpu_run} from a per-vCPU script of guest "steps". Each step may
 * change registers (as the guest would) and returns the exit the framework would report.
 *
 * <p>It also executes the SIMD restore stub for real: when a vCPU runs with PC at a mapped
 * address holding {@code LDP Q}/{@code HVC} words, it decodes them from guest memory (by the
 * architecture's encoding, independently of {@link SimdRestore}'s encoder) and loads the Q
 * registers — so a wrong stub or wrong data layout fails the tests.
 */
class FakeHvf implements HvfLayer {
    /** One vCPU's registers. */
    static final class Cpu {
        final long handle;
        final Map<Integer, Long> regs = new HashMap<>();
        final Map<Integer, Long> sys = new HashMap<>();
        final Map<Integer, Long> icc = new HashMap<>();
        final Map<Integer, Long> redist = new HashMap<>();
        final byte[][] q = new byte[32][16];
        final Deque<Function<Cpu, Exit>> script = new ArrayDeque<>();
        volatile boolean cancelRequested;
        long vtimerOffset;
        Thread owner;

        Cpu(long handle) {
            this.handle = handle;
        }

        long reg(int r) {
            return regs.getOrDefault(r, 0L);
        }

        long x(int n) {
            return reg(Arm64Regs.X0 + n);
        }

        void x(int n, long v) {
            regs.put(Arm64Regs.X0 + n, v);
        }

        long pc() {
            return reg(Arm64Regs.PC);
        }
    }

    final List<String> calls = Collections.synchronizedList(new ArrayList<>());
    final Map<Long, Cpu> cpus = new ConcurrentHashMap<>();
    final TreeMap<Long, MemorySegment> mapped = new TreeMap<>();
    final Map<Long, Long> protection = new ConcurrentHashMap<>();
    final List<long[]> spis = Collections.synchronizedList(new ArrayList<>());
    GicParams gic = new GicParams(0x10000, 0x10000, 64 * 0x20000L, 0x20000, 0x20000, 32, 988, 27, 30);
    byte[] gicState = {1, 2, 3, 4, 5};
    byte[] gicStateSet;
    int maxVcpus = 64;
    int defaultIpa = 36;
    int maxIpa = 40;
    int createdIpaBits = -1;
    long readOnlyIdRegsDefault = 0x1111_0000L;
    private long nextHandle;
    /** Script to use for vCPUs created later, by index of creation. */
    final Map<Long, Deque<Function<Cpu, Exit>>> pendingScripts = new ConcurrentHashMap<>();

    static Exit exception(long esr, long ipa) {
        return new Exit(EXIT_EXCEPTION, esr, ipa, ipa);
    }

    static Exit canceled() {
        return new Exit(EXIT_CANCELED, 0, 0, 0);
    }

    /** Adds steps for the vCPU with handle {@code handle} (created or not yet created). */
    @SafeVarargs
    final void script(long handle, Function<Cpu, Exit>... steps) {
        Cpu c = cpus.get(handle);
        Deque<Function<Cpu, Exit>> d = c != null ? c.script : pendingScripts.computeIfAbsent(handle, h -> new ArrayDeque<>());
        Collections.addAll(d, steps);
    }

    Cpu cpu(long handle) {
        return cpus.get(handle);
    }

    private void log(String s) {
        calls.add(s);
    }

    @Override
    public int maxIpaBits() {
        return maxIpa;
    }

    @Override
    public int defaultIpaBits() {
        return defaultIpa;
    }

    @Override
    public void vmCreate(int ipaBits) {
        createdIpaBits = ipaBits;
        log("vm_create(" + ipaBits + ")");
    }

    @Override
    public void vmDestroy() {
        log("vm_destroy");
    }

    @Override
    public int maxVcpuCount() {
        return maxVcpus;
    }

    @Override
    public void vmMap(MemorySegment host, long ipa, long size, long flags) {
        log("vm_map(0x" + Long.toHexString(ipa) + "," + size + "," + flags + ")");
        mapped.put(ipa, host.reinterpret(size));
        for (long p = ipa; p < ipa + size; p += HvfVm.PAGE) {
            protection.put(p, flags);
        }
    }

    @Override
    public void vmUnmap(long ipa, long size) {
        log("vm_unmap(0x" + Long.toHexString(ipa) + ")");
        mapped.remove(ipa);
    }

    @Override
    public void vmProtect(long ipa, long size, long flags) {
        if (ipa % HvfVm.PAGE != 0 || size % HvfVm.PAGE != 0) {
            throw new HvfCallException("hv_vm_protect", HvReturn.HV_BAD_ARGUMENT.code());
        }
        log("vm_protect(0x" + Long.toHexString(ipa) + "," + size + "," + flags + ")");
        for (long p = ipa; p < ipa + size; p += HvfVm.PAGE) {
            protection.put(p, flags);
        }
    }

    @Override
    public GicParams gicParams() {
        return gic;
    }

    @Override
    public void gicCreate(long distributorBase, long redistributorBase) {
        log("gic_create(0x" + Long.toHexString(distributorBase) + ",0x" + Long.toHexString(redistributorBase) + ")");
    }

    @Override
    public void gicSetSpi(int intid, boolean level) {
        spis.add(new long[] {intid, level ? 1 : 0});
    }

    @Override
    public long gicRedistributorBase(long vcpu) {
        long mpidr = cpus.get(vcpu).sys.getOrDefault(Arm64Regs.MPIDR_EL1, 0L);
        long index = ((mpidr >> 8) & 0xff) * 16 + (mpidr & 0xff);
        return 0x080A_0000L + index * 0x20000;
    }

    @Override
    public long gicGetIccReg(long vcpu, int reg) {
        owned(vcpu);
        log("icc_get(" + vcpu + ",0x" + Integer.toHexString(reg) + ")");
        return cpus.get(vcpu).icc.getOrDefault(reg, 0L);
    }

    @Override
    public void gicSetIccReg(long vcpu, int reg, long value) {
        owned(vcpu);
        log("icc_set(" + vcpu + ",0x" + Integer.toHexString(reg) + ")");
        cpus.get(vcpu).icc.put(reg, value);
    }

    final Map<Integer, Long> distributor = new ConcurrentHashMap<>();
    boolean gicStateRejected;

    @Override
    public long gicGetDistributorReg(int reg) {
        return distributor.getOrDefault(reg, 0L);
    }

    @Override
    public void gicSetDistributorReg(int reg, long value) {
        log("gicd_set(0x" + Integer.toHexString(reg) + ")");
        distributor.put(reg, value);
    }

    @Override
    public long gicGetRedistributorReg(long vcpu, int reg) {
        return owned(vcpu).redist.getOrDefault(reg, 0L);
    }

    @Override
    public void gicSetRedistributorReg(long vcpu, int reg, long value) {
        log("gicr_set(" + vcpu + ",0x" + Integer.toHexString(reg) + ")");
        owned(vcpu).redist.put(reg, value);
    }

    @Override
    public byte[] gicGetState() {
        log("gic_get_state");
        return gicState.clone();
    }

    @Override
    public void gicSetState(byte[] state) {
        if (gicStateRejected) {
            throw new HvfCallException("hv_gic_set_state", HvReturn.HV_BAD_ARGUMENT.code());
        }
        log("gic_set_state");
        gicStateSet = state.clone();
    }

    @Override
    public synchronized long vcpuCreate() {
        long h = nextHandle++;
        Cpu c = new Cpu(h);
        c.owner = Thread.currentThread();
        c.sys.put(Arm64Regs.SCTLR_EL1, 0x30d0_0800L);
        for (Arm64Regs.SysReg r : Arm64Regs.SNAPSHOT_SYS_REGS) {
            if (r.idRegister()) {
                c.sys.put(r.id(), readOnlyIdRegsDefault + r.id());
            }
        }
        c.sys.put(Arm64Regs.ID_AA64PFR0_EL1, 0x11L);
        c.sys.put(Arm64Regs.ID_AA64PFR1_EL1, 0x0100_0020L); // SME field = 1, as on an M4
        Deque<Function<Cpu, Exit>> pending = pendingScripts.remove(h);
        if (pending != null) {
            c.script.addAll(pending);
        }
        cpus.put(h, c);
        log("vcpu_create=" + h);
        return h;
    }

    private Cpu owned(long vcpu) {
        Cpu c = cpus.get(vcpu);
        if (c == null) {
            throw new HvfCallException("fake: no vCPU " + vcpu, HvReturn.HV_BAD_ARGUMENT.code());
        }
        if (c.owner != Thread.currentThread()) {
            throw new AssertionError("vCPU " + vcpu + " used from thread " + Thread.currentThread().getName()
                    + ", owner " + c.owner.getName());
        }
        return c;
    }

    @Override
    public void vcpuDestroy(long vcpu) {
        owned(vcpu);
        log("vcpu_destroy(" + vcpu + ")");
    }

    @Override
    public Exit vcpuRun(long vcpu) {
        Cpu c = owned(vcpu);
        log("run(" + vcpu + ")");
        if (c.cancelRequested) {
            c.cancelRequested = false;
            return canceled();
        }
        Exit stub = runStubIfAny(c);
        if (stub != null) {
            return stub;
        }
        Function<Cpu, Exit> step = c.script.poll();
        if (step == null) {
            throw new AssertionError("vCPU " + vcpu + " ran past the end of its script at PC 0x"
                    + Long.toHexString(c.pc()));
        }
        return step.apply(c);
    }

    /** Executes LDP Q / HVC words at PC if PC is in mapped RAM and holds them. */
    private Exit runStubIfAny(Cpu c) {
        MemorySegment seg = ramAt(c.pc());
        if (seg == null) {
            return null;
        }
        ValueLayout.OfInt le = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        long pc = c.pc();
        for (int guard = 0; guard < 64; guard++) {
            MemorySegment at = ramAt(pc);
            int insn = at.get(le, 0);
            if ((insn & 0xFFC0_0000) == 0xAD40_0000) { // LDP (SIMD&FP), 128-bit, signed offset
                if ((c.sys.getOrDefault(Arm64Regs.CPACR_EL1, 0L) >> 20 & 3) != 3) {
                    throw new AssertionError("FP access with CPACR_EL1.FPEN != 0b11 would trap");
                }
                if ((c.sys.getOrDefault(Arm64Regs.SCTLR_EL1, 0L) & 1) != 0) {
                    throw new AssertionError("stub ran with the MMU on");
                }
                int imm7 = (insn >> 15) & 0x7f;
                long offset = (long) ((imm7 << 25) >> 25) * 16;
                int rt2 = (insn >> 10) & 31;
                int rn = (insn >> 5) & 31;
                int rt = insn & 31;
                long addr = c.x(rn) + offset;
                if (addr % 16 != 0) {
                    throw new AssertionError("misaligned SIMD load from device memory (MMU off) at 0x" + Long.toHexString(addr));
                }
                c.q[rt] = ramAt(addr).asSlice(0, 16).toArray(ValueLayout.JAVA_BYTE);
                c.q[rt2] = ramAt(addr + 16).asSlice(0, 16).toArray(ValueLayout.JAVA_BYTE);
                pc += 4;
            } else if ((insn & 0xFFE0_001F) == 0xD400_0002) { // HVC #imm16
                c.regs.put(Arm64Regs.PC, pc + 4); // preferred return: the next instruction
                long esr = (0x16L << 26) | (1L << 25) | ((insn >> 5) & 0xffff);
                return exception(esr, 0);
            } else {
                return guard == 0 ? null : exception(0, pc);
            }
        }
        throw new AssertionError("stub did not end");
    }

    MemorySegment ramAt(long ipa) {
        Map.Entry<Long, MemorySegment> e = mapped.floorEntry(ipa);
        if (e == null || ipa - e.getKey() >= e.getValue().byteSize()) {
            return null;
        }
        return e.getValue().asSlice(ipa - e.getKey());
    }

    @Override
    public void vcpusExit(long... vcpus) {
        for (long v : vcpus) {
            Cpu c = cpus.get(v);
            if (c != null) {
                c.cancelRequested = true;
            }
        }
        log("vcpus_exit");
    }

    @Override
    public long getReg(long vcpu, int reg) {
        return owned(vcpu).reg(reg);
    }

    @Override
    public void setReg(long vcpu, int reg, long value) {
        if (reg < 0 || reg > Arm64Regs.CPSR) {
            throw new HvfCallException("hv_vcpu_set_reg", HvReturn.HV_BAD_ARGUMENT.code());
        }
        owned(vcpu).regs.put(reg, value);
    }

    /** IDs the fake refuses, like a macOS without the 15.2 registers. */
    final Set<Integer> missingSysRegs = new HashSet<>();

    @Override
    public long getSysReg(long vcpu, int reg) {
        if (missingSysRegs.contains(reg)) {
            throw new HvfCallException("hv_vcpu_get_sys_reg", HvReturn.HV_BAD_ARGUMENT.code());
        }
        return owned(vcpu).sys.getOrDefault(reg, 0L);
    }

    @Override
    public void setSysReg(long vcpu, int reg, long value) {
        if (missingSysRegs.contains(reg)) {
            throw new HvfCallException("hv_vcpu_set_sys_reg", HvReturn.HV_BAD_ARGUMENT.code());
        }
        log("sys_set(" + vcpu + ",0x" + Integer.toHexString(reg) + ")");
        owned(vcpu).sys.put(reg, value);
    }

    @Override
    public byte[] getSimdFp(long vcpu, int reg) {
        return owned(vcpu).q[reg].clone();
    }

    @Override
    public long getVtimerOffset(long vcpu) {
        return owned(vcpu).vtimerOffset;
    }

    @Override
    public void setVtimerOffset(long vcpu, long offset) {
        log("vtimer_offset(" + vcpu + ")");
        owned(vcpu).vtimerOffset = offset;
    }

    @Override
    public void setVtimerMask(long vcpu, boolean masked) {
        owned(vcpu);
        log("vtimer_mask(" + vcpu + "," + masked + ")");
    }

    /** 1 tick = 1 ns. */
    @Override
    public long machAbsoluteTime() {
        return System.nanoTime();
    }

    @Override
    public long ticksToNanos(long ticks) {
        return ticks;
    }
}
