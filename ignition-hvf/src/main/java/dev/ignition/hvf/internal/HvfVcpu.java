package dev.ignition.hvf.internal;

import dev.ignition.internal.arm64.Arm64Layout;
import dev.ignition.internal.arm64.Esr;
import dev.ignition.internal.arm64.Psci;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.spi.BootState;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VcpuExit;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Hypervisor.framework vCPU, bound to the platform thread that created it.
 *
 * <p>Exit handling, by exception class (ESR_EL2.EC) of an {@code HV_EXIT_REASON_EXCEPTION}:
 * <ul>
 * <li>0x24 data abort: on write-protected RAM with dirty tracking, mark the page, re-enable
 *     writes and re-run the instruction (PC unchanged; checked before ISV, which such faults need
 *     not carry). Otherwise MMIO: with ISV, a write returns {@link VcpuExit.MmioWrite} with the
 *     register's low bytes (XZR reads as 0) and PC + 4; a read returns {@link VcpuExit.MmioRead}
 *     and completing it ({@link VcpuExit.Read#complete}) writes the register (zero- or sign-extended per SSE/SF; XZR
 *     discards) and advances PC by 4. Cache maintenance on MMIO is skipped (PC + 4). ISV = 0
 *     (load/store pair, writeback, SIMD) on MMIO fails the vCPU with a message.</li>
 * <li>0x16 HVC: {@code hvc #0} is PSCI 1.0 (SMCCC: function in X0, result in X0); PC is not
 *     advanced, the preferred return address is already the next instruction.</li>
 * <li>0x17 SMC: answered NOT_SUPPORTED in X0, PC + 4 (the device tree says PSCI uses HVC).</li>
 * <li>0x01 WFI: PC + 4, then sleep until the virtual timer's deadline (CNTV_CVAL against
 *     {@code mach_absolute_time - vtimer offset}), an interrupt line raised, a kick, or at most
 *     {@link #WFI_MAX_WAIT_NANOS} (the framework GIC does not tell us about SGIs between vCPUs).
 *     WFE: PC + 4, no wait.</li>
 * <li>0x18 MSR/MRS trap: read as zero, writes ignored, PC + 4 (PMU/debug registers Linux probes).</li>
 * </ul>
 * {@code HV_EXIT_REASON_CANCELED} after {@link #requestExit()} returns {@link VcpuExit.Interrupted};
 * {@code VTIMER_ACTIVATED} (the framework does not send it with its GIC) clears the timer mask.
 *
 * <p>Power: vCPU 0 starts at its {@link BootState.Arm64}; the others wait, inside {@link #run()},
 * for a PSCI CPU_ON and then start at its entry with X0 = its context id, EL1h, DAIF masked, MMU
 * off.
 */
public final class HvfVcpu implements Vcpu {
    /** Longest WFI sleep before re-entering the guest to look for interrupts we cannot see. */
    public static final long WFI_MAX_WAIT_NANOS = 1_000_000;
    private static final Logger LOG = LoggerFactory.getLogger(HvfVcpu.class);

    private final HvfVm vm;
    private final HvfLayer hv;
    private final int index;
    private final long handle;
    private final Thread owner;
    private final long resetSctlr;
    private final AtomicBoolean kick = new AtomicBoolean();
    private final ReentrantLock waitLock = new ReentrantLock();
    private final Condition wakeup = waitLock.newCondition();
    private boolean wakePending;
    /** Answers this vCPU's read exits; one instance, so an exit allocates only its record. */
    private final VcpuExit.ReadCompletion completion = this::completeRead;
    /** The MMIO read exit not answered yet (compared by identity), and the load it stands for. */
    private VcpuExit.@Nullable MmioRead pendingRead;
    private Esr.@Nullable DataAbort pendingLoad;
    private volatile boolean running;
    private volatile boolean closed;
    private boolean warnedVtimer;
    private boolean ranOnce;
    private boolean restored;

    HvfVcpu(HvfVm vm, int index, BootState.Arm64 boot) {
        this.vm = vm;
        this.hv = vm.layer();
        this.index = index;
        this.owner = Thread.currentThread();
        this.handle = hv.vcpuCreate();
        boolean ok = false;
        try {
            hv.setSysReg(handle, Arm64Regs.MPIDR_EL1, Arm64Layout.mpidr(index));
            long pfr0 = hv.getSysReg(handle, Arm64Regs.ID_AA64PFR0_EL1);
            if (((pfr0 >>> 24) & 0xf) == 0) {
                // Advertise the GICv3 system-register interface, as QEMU does with a GICv3.
                hv.setSysReg(handle, Arm64Regs.ID_AA64PFR0_EL1, pfr0 | 1L << 24);
            }
            long pfr1 = hv.getSysReg(handle, Arm64Regs.ID_AA64PFR1_EL1);
            if (((pfr1 >>> 24) & 0xf) != 0) {
                // Hide SME (M4 and later): its streaming state (Z/P/ZA) is not in our snapshots.
                hv.setSysReg(handle, Arm64Regs.ID_AA64PFR1_EL1, pfr1 & ~(0xfL << 24));
            }
            if (vm.ipaChanged()) {
                long mmfr0 = hv.getSysReg(handle, Arm64Regs.ID_AA64MMFR0_EL1);
                hv.setSysReg(handle, Arm64Regs.ID_AA64MMFR0_EL1, (mmfr0 & ~0xfL) | HvfVm.parangeField(vm.ipaBits()));
            }
            long redist = hv.gicRedistributorBase(handle);
            long lo = Arm64Layout.GIC_REDIST_BASE;
            long hi = lo + (long) vm.vcpuCount() * Arm64Layout.GIC_REDIST_STRIDE;
            if (redist < lo || redist >= hi) {
                throw new IllegalStateException(String.format("the framework put vCPU %d's redistributor at 0x%x, "
                        + "outside the device tree's region [0x%x, 0x%x)", index, redist, lo, hi));
            }
            hv.setVtimerOffset(handle, vm.vtimerOffset());
            resetSctlr = hv.getSysReg(handle, Arm64Regs.SCTLR_EL1);
            if (index == 0) {
                enterAt(boot.pc(), boot.x0());
            }
            ok = true;
        } finally {
            if (!ok) {
                hv.vcpuDestroy(handle);
            }
        }
    }

    @Override
    public int index() {
        return index;
    }

    long handle() {
        return handle;
    }

    /** Inside {@link #run()} (in the guest, or waiting in WFI or powered off). */
    boolean running() {
        return running;
    }

    boolean isClosed() {
        return closed;
    }

    /** Linux entry state: PC, X0, X1..X3 = 0, EL1h with DAIF masked, MMU off (booting.rst). */
    private void enterAt(long pc, long x0) {
        hv.setReg(handle, Arm64Regs.PC, pc);
        hv.setReg(handle, Arm64Regs.X0, x0);
        for (int r = 1; r <= 3; r++) {
            hv.setReg(handle, Arm64Regs.X0 + r, 0);
        }
        hv.setReg(handle, Arm64Regs.CPSR, Arm64Regs.CPSR_EL1H_DAIF);
        hv.setSysReg(handle, Arm64Regs.SCTLR_EL1, resetSctlr);
    }

    private void checkOwner() {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("vCPU " + index + " belongs to thread " + owner.getName()
                    + "; Hypervisor.framework allows vCPU calls only on the creating thread");
        }
        if (closed) {
            throw new IllegalStateException("vCPU " + index + " is closed");
        }
    }

    @Override
    public VcpuExit run() {
        checkOwner();
        if (pendingRead != null) {
            throw new IllegalStateException("vCPU " + index + ": answer the pending MMIO read (complete it) before running again");
        }
        if (!ranOnce) {
            vm.awaitAllRestored(index);
            ranOnce = true;
        }
        vm.markRan();
        running = true;
        try {
            return runLoop();
        } finally {
            running = false;
        }
    }

    private VcpuExit runLoop() {
        while (true) {
            if (kick.getAndSet(false)) {
                return new VcpuExit.Interrupted();
            }
            HvfState.Power p = vm.power(index);
            if (p != HvfState.Power.ON) {
                if (p == HvfState.Power.ON_PENDING) {
                    long entry = vm.pendingEntry(index);
                    long ctx = vm.pendingContext(index);
                    enterAt(entry, ctx);
                    vm.setPower(index, HvfState.Power.ON, 0, 0);
                    continue;
                }
                awaitWake(Long.MAX_VALUE);
                continue;
            }
            HvfLayer.Exit exit = hv.vcpuRun(handle);
            switch (exit.reason()) {
                case HvfLayer.EXIT_CANCELED -> {
                    // A kick consumed before entering leaves the framework's exit request behind;
                    // that stale cancel is not a new request.
                    if (kick.getAndSet(false)) {
                        return new VcpuExit.Interrupted();
                    }
                }
                case HvfLayer.EXIT_VTIMER_ACTIVATED -> {
                    if (!warnedVtimer) {
                        warnedVtimer = true;
                        LOG.warn("vCPU {}: unexpected VTIMER_ACTIVATED exit with the framework GIC; "
                                + "unmasking the timer", index);
                    }
                    hv.setVtimerMask(handle, false);
                }
                case HvfLayer.EXIT_EXCEPTION -> {
                    VcpuExit r = handleException(exit);
                    if (r != null) {
                        return r;
                    }
                }
                default -> {
                    return new VcpuExit.Failed("hv_vcpu_run returned exit reason " + exit.reason()
                            + " (HV_EXIT_REASON_UNKNOWN or newer) at PC 0x" + Long.toHexString(pc()));
                }
            }
        }
    }

    private long pc() {
        return hv.getReg(handle, Arm64Regs.PC);
    }

    private void advancePc() {
        hv.setReg(handle, Arm64Regs.PC, pc() + 4);
    }

    private @Nullable VcpuExit handleException(HvfLayer.Exit exit) {
        long esr = exit.syndrome();
        int ec = Esr.ec(esr);
        switch (ec) {
            case Esr.EC_DABT_LOW -> {
                return dataAbort(exit);
            }
            case Esr.EC_HVC64 -> {
                if (Esr.hvcImmediate(esr) != 0) {
                    hv.setReg(handle, Arm64Regs.X0, Psci.NOT_SUPPORTED);
                    return null;
                }
                return psci();
            }
            case Esr.EC_SMC64 -> {
                hv.setReg(handle, Arm64Regs.X0, Psci.NOT_SUPPORTED);
                advancePc();
                return null;
            }
            case Esr.EC_WFX -> {
                advancePc();
                if (!Esr.isWfe(esr)) {
                    waitForInterrupt();
                }
                return null;
            }
            case Esr.EC_SYS64 -> {
                Esr.SysRegTrap t = Esr.SysRegTrap.decode(esr);
                if (t.read() && t.register() != 31) {
                    hv.setReg(handle, Arm64Regs.X0 + t.register(), 0);
                }
                LOG.debug("vCPU {}: {} of {} trapped; read as zero / write ignored", index,
                        t.read() ? "MRS" : "MSR", t.name());
                advancePc();
                return null;
            }
            default -> {
                return new VcpuExit.Failed(String.format("vCPU %d: unhandled guest exception, EC 0x%02x, ESR 0x%x, "
                        + "FAR 0x%x, IPA 0x%x, PC 0x%x", index, ec, esr, exit.virtualAddress(),
                        exit.physicalAddress(), pc()));
            }
        }
    }

    private @Nullable VcpuExit dataAbort(HvfLayer.Exit exit) {
        Esr.DataAbort da = Esr.DataAbort.decode(exit.syndrome());
        long ipa = exit.physicalAddress();
        if (vm.isRam(ipa)) {
            if (vm.tracking() && da.permissionFault()) {
                vm.onWriteFault(ipa);
                return null; // re-run the same instruction, now with writes allowed
            }
            return new VcpuExit.Failed(String.format("vCPU %d: guest access to RAM at IPA 0x%x faulted (ESR 0x%x, "
                    + "DFSC 0x%02x) at PC 0x%x", index, ipa, exit.syndrome(), da.dfsc(), pc()));
        }
        if (!da.isv()) {
            return new VcpuExit.Failed(String.format("vCPU %d: MMIO access at IPA 0x%x without instruction syndrome "
                    + "(ISV=0: load/store pair, writeback or SIMD access to a device), ESR 0x%x, PC 0x%x", index,
                    ipa, exit.syndrome(), pc()));
        }
        if (da.cacheMaintenance()) {
            advancePc();
            return null;
        }
        if (da.write()) {
            long reg = da.register() == 31 ? 0 : hv.getReg(handle, Arm64Regs.X0 + da.register());
            advancePc();
            return new VcpuExit.MmioWrite(ipa, da.size(), da.storeValue(reg));
        }
        VcpuExit.MmioRead read = new VcpuExit.MmioRead(ipa, da.size(), completion);
        pendingRead = read;
        pendingLoad = da;
        return read;
    }

    private void completeRead(VcpuExit.Read exit, long value) {
        checkOwner();
        Esr.DataAbort da = pendingLoad;
        if (da == null || exit != pendingRead) {
            throw new IllegalStateException("vCPU " + index + ": " + exit + " is not the pending read"
                    + (da == null ? " (none is pending: answered already, or never this vCPU's)" : ""));
        }
        if (da.register() != 31) {
            hv.setReg(handle, Arm64Regs.X0 + da.register(), da.loadValue(value));
        }
        advancePc();
        pendingRead = null;
        pendingLoad = null;
    }

    private @Nullable VcpuExit psci() {
        long x0 = hv.getReg(handle, Arm64Regs.X0);
        long x1 = hv.getReg(handle, Arm64Regs.X0 + 1);
        long x2 = hv.getReg(handle, Arm64Regs.X0 + 2);
        long x3 = hv.getReg(handle, Arm64Regs.X0 + 3);
        Psci.Call call = Psci.decode(x0, x1, x2, x3);
        long result;
        switch (call) {
            case Psci.Call.Version v -> result = Psci.VERSION_1_0;
            case Psci.Call.Features f -> result = Psci.features(f.function());
            case Psci.Call.MigrateInfoType m -> result = Psci.TOS_NOT_PRESENT_MP;
            case Psci.Call.CpuOn on -> result = vm.cpuOn(on.targetMpidr(), on.entry(), on.contextId());
            case Psci.Call.AffinityInfo a -> result = vm.affinityInfo(a.targetMpidr(), a.lowestLevel());
            case Psci.Call.CpuOff off -> {
                // Never returns to the caller: the vCPU waits for the next CPU_ON.
                vm.setPower(index, HvfState.Power.OFF, 0, 0);
                return null;
            }
            case Psci.Call.SystemOff s -> {
                return new VcpuExit.Shutdown("guest called PSCI SYSTEM_OFF");
            }
            case Psci.Call.SystemReset s -> {
                return new VcpuExit.Reset();
            }
            case Psci.Call.Unsupported u -> result = Psci.NOT_SUPPORTED;
        }
        hv.setReg(handle, Arm64Regs.X0, result);
        return null;
    }

    private void waitForInterrupt() {
        long ctl = hv.getSysReg(handle, Arm64Regs.CNTV_CTL_EL0);
        long wait = WFI_MAX_WAIT_NANOS;
        if ((ctl & 1) != 0 && (ctl & 2) == 0) { // ENABLE set, IMASK clear
            long cval = hv.getSysReg(handle, Arm64Regs.CNTV_CVAL_EL0);
            long now = hv.machAbsoluteTime() - vm.vtimerOffset();
            if (cval - now <= 0) {
                return; // already fired: the framework GIC has it pending
            }
            wait = Math.min(wait, hv.ticksToNanos(cval - now));
        }
        awaitWake(wait);
    }

    /** Sleeps until {@link #wake()}, a kick, or {@code nanos}. */
    private void awaitWake(long nanos) {
        waitLock.lock();
        try {
            long left = nanos;
            while (!wakePending && !kick.get() && left > 0) {
                left = wakeup.awaitNanos(left);
            }
            wakePending = false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kick.set(true);
        } finally {
            waitLock.unlock();
        }
    }

    /** An interrupt may be pending or the power state changed: end a WFI or power-off wait. */
    void wake() {
        waitLock.lock();
        try {
            wakePending = true;
            wakeup.signalAll();
        } finally {
            waitLock.unlock();
        }
    }

    @Override
    public void requestExit() {
        kick.set(true);
        if (!closed) {
            hv.vcpusExit(handle);
        }
        wake();
    }

    // --- snapshots ---------------------------------------------------------------------------

    @Override
    public byte[] captureState() {
        checkOwner();
        if (pendingRead != null) {
            throw new IllegalStateException("vCPU " + index + " has an unanswered MMIO read; complete it first");
        }
        long[] x = new long[31];
        for (int r = 0; r < 31; r++) {
            x[r] = hv.getReg(handle, Arm64Regs.X0 + r);
        }
        long pc = hv.getReg(handle, Arm64Regs.PC);
        long cpsr = hv.getReg(handle, Arm64Regs.CPSR);
        long fpcr = hv.getReg(handle, Arm64Regs.FPCR);
        long fpsr = hv.getReg(handle, Arm64Regs.FPSR);
        Map<Integer, Long> sys = new LinkedHashMap<>();
        for (Arm64Regs.SysReg r : Arm64Regs.SNAPSHOT_SYS_REGS) {
            try {
                sys.put(r.id(), hv.getSysReg(handle, r.id()));
            } catch (HvfCallException e) {
                if (!r.optional()) {
                    throw e;
                }
            }
        }
        byte[][] q = new byte[32][];
        for (int r = 0; r < 32; r++) {
            q[r] = hv.getSimdFp(handle, r);
        }
        Map<Integer, Long> icc = new LinkedHashMap<>();
        for (Arm64Regs.SysReg r : Arm64Regs.SNAPSHOT_ICC_REGS) {
            icc.put(r.id(), hv.gicGetIccReg(handle, r.id()));
        }
        Map<Integer, Long> redist = new LinkedHashMap<>();
        try {
            for (int reg : GicRegs.REDISTRIBUTOR) {
                redist.put(reg, hv.gicGetRedistributorReg(handle, reg));
            }
        } catch (HvfCallException | UnsupportedOperationException e) {
            LOG.warn("vCPU {}: redistributor registers unreadable ({}); the snapshot relies on the "
                    + "framework's GIC blob alone", index, e.getMessage());
            redist.clear();
        }
        HvfState.Power p = vm.power(index);
        return new HvfState.Vcpu(x, pc, cpsr, fpcr, fpsr, sys, q, icc, redist, p, vm.pendingEntry(index),
                vm.pendingContext(index)).encode();
    }

    @Override
    public void restoreState(byte[] state) {
        checkOwner();
        HvfState.Vcpu s = HvfState.Vcpu.decode(state);
        if (ranOnce) {
            throw new IllegalStateException("vCPU " + index + " has already run; restore state into a fresh VM");
        }
        if (!vm.stateRestored()) {
            throw new IllegalStateException("restore the VM state (GIC) before the vCPU states");
        }
        Long mpidr = s.sysRegs().get(Arm64Regs.MPIDR_EL1);
        if (mpidr == null || mpidr != Arm64Layout.mpidr(index)) {
            throw new HvfState.InvalidStateException("vCPU state with MPIDR " + (mpidr == null ? "missing"
                    : "0x" + Long.toHexString(mpidr)) + " cannot be restored into vCPU " + index
                    + "; restore vCPU states into vCPUs of the same index");
        }
        // 1. Q registers first: the load stub clobbers PC, X0, CPSR, CPACR and SCTLR.
        MemoryRegion scratch = vm.scratchRegion();
        vm.simdScratchLock().lock();
        try {
            SimdRestore.restore(hv, handle, scratch.segment().asSlice(0, SimdRestore.SCRATCH_BYTES),
                    scratch.guestAddress(), s.q());
        } finally {
            vm.simdScratchLock().unlock();
        }
        // 2. General registers.
        for (int r = 0; r < 31; r++) {
            hv.setReg(handle, Arm64Regs.X0 + r, s.x()[r]);
        }
        hv.setReg(handle, Arm64Regs.PC, s.pc());
        hv.setReg(handle, Arm64Regs.CPSR, s.cpsr());
        hv.setReg(handle, Arm64Regs.FPCR, s.fpcr());
        hv.setReg(handle, Arm64Regs.FPSR, s.fpsr());
        // 3. System registers in list order (MPIDR first); ID registers only where they differ.
        for (Arm64Regs.SysReg r : Arm64Regs.SNAPSHOT_SYS_REGS) {
            Long v = s.sysRegs().get(r.id());
            if (v == null) {
                if (!r.optional()) {
                    throw new HvfState.InvalidStateException("vCPU state lacks " + r.name());
                }
                continue;
            }
            if (r.idRegister() && hv.getSysReg(handle, r.id()) == v) {
                continue;
            }
            hv.setSysReg(handle, r.id(), v);
        }
        // 4. Timer: the VM-wide offset that continues the captured counter.
        hv.setVtimerOffset(handle, vm.vtimerOffset());
        // 5. Redistributor registers, only when the VM had to restore the GIC register by register.
        if (vm.gicRegisterFallback()) {
            if (s.redistributor().isEmpty()) {
                throw new HvfState.InvalidStateException("the framework refused the snapshot's GIC blob and the "
                        + "snapshot has no register-level redistributor state for vCPU " + index);
            }
            for (int reg : GicRegs.REDISTRIBUTOR) {
                Long v = s.redistributor().get(reg);
                if (v != null) {
                    hv.gicSetRedistributorReg(handle, reg, v);
                }
            }
        }
        // 6. GIC CPU interface, after the distributor/redistributor state.
        for (Arm64Regs.SysReg r : Arm64Regs.SNAPSHOT_ICC_REGS) {
            Long v = s.iccRegs().get(r.id());
            if (v == null) {
                throw new HvfState.InvalidStateException("vCPU state lacks " + r.name());
            }
            hv.gicSetIccReg(handle, r.id(), v);
        }
        // 7. PSCI power state.
        vm.setPower(index, s.power(), s.pendingEntry(), s.pendingContext());
        if (!restored) {
            restored = true;
            vm.vcpuRestored();
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("close vCPU " + index + " on its own thread " + owner.getName());
        }
        closed = true;
        hv.vcpuDestroy(handle);
        vm.vcpuClosed(index);
    }
}
