package dev.ignition.hvf.internal;

import dev.ignition.internal.arm64.Arm64DeviceTree;
import dev.ignition.internal.arm64.Arm64Layout;
import dev.ignition.internal.arm64.Psci;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.spi.BootState;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VmConfig;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Hypervisor.framework VM: guest RAM mapped with {@code hv_vm_map}, the framework's GICv3 at
 * the {@link Arm64Layout} addresses, PSCI power state of every vCPU, and dirty tracking by
 * write-protection.
 *
 * <p><b>Dirty tracking.</b> HVF has no dirty log. With {@link VmConfig#trackDirtyPages()} every
 * RAM region is mapped read+write+exec and then protected read+exec (exec kept: without it the
 * guest takes instruction aborts). A guest write faults (data abort, permission DFSC); the vCPU
 * marks the 16 KiB page, re-enables writes on that page only and re-runs the instruction without
 * advancing PC. {@link #fetchDirtyPages} write-protects the pages it returns again. Writes by the
 * host (devices, loaders) do not fault; they are recorded by {@link GuestMemory}'s host-dirty
 * bitmap ({@link GuestMemory#drainHostDirty}), and a diff snapshot takes the union of both.
 *
 * <p><b>Snapshots.</b> Capture: every vCPU stopped; {@link #captureState()} (guest counter and the
 * GIC blob) and each vCPU's {@link Vcpu#captureState()} on its thread. Restore onto a fresh VM
 * over the restored memory: create every vCPU in index order (so the framework hands out the same
 * {@code hv_vcpu_t} values and redistributors), then {@link #restoreState(byte[])} (GIC blob, which
 * the framework accepts only after all vCPUs exist and before any runs), then each vCPU's
 * {@link Vcpu#restoreState(byte[])} on its thread (SIMD, general, system, timer, ICC registers).
 */
public final class HvfVm implements HypervisorVm {
    /** The dirty-tracking and mapping granule: the Apple silicon host page. */
    public static final long PAGE = 16 * 1024;
    static final long RWX = HvfLayer.MEMORY_READ | HvfLayer.MEMORY_WRITE | HvfLayer.MEMORY_EXEC;
    static final long RX = HvfLayer.MEMORY_READ | HvfLayer.MEMORY_EXEC;
    private static final long CREATE_ORDER_TIMEOUT_SECONDS = 30;
    private static final Logger LOG = LoggerFactory.getLogger(HvfVm.class);

    private final HvfLayer hv;
    private final VmConfig config;
    private final GuestMemory memory;
    private final List<MemoryRegion> regions;
    private final HvfLayer.GicParams gic;
    private final int ipaBits;
    private final boolean ipaChanged;
    private final AtomicLongArray[] guestDirty;
    private final Runnable onClose;
    private final ReentrantLock dirtyLock = new ReentrantLock();
    /** Guards vCPU creation order and PSCI power state. */
    final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final @Nullable HvfVcpu[] vcpus;
    private final HvfState.Power[] power;
    private final long[] pendingEntry;
    private final long[] pendingContext;
    private final ReentrantLock simdScratchLock = new ReentrantLock();
    private int nextIndex;
    private int restoredVcpus;
    private int mappedRegions;
    private volatile long vtimerOffset;
    private volatile boolean stateRestored;
    private volatile boolean gicRegisterFallback;
    private volatile boolean anyRan;
    private boolean closed;

    /**
     * Creates the VM, its GIC and the memory mappings.
     *
     * @param onClose called once after the VM is destroyed (the provider's one-VM-per-process guard)
     */
    public HvfVm(HvfLayer hv, VmConfig config, Runnable onClose) {
        this.hv = hv;
        this.config = config;
        this.memory = config.memory();
        this.regions = memory.regions();
        this.onClose = onClose;
        int n = config.vcpus();
        if (n > Arm64Layout.MAX_VCPUS) {
            throw new IllegalArgumentException("Ignition's arm64 layout holds at most " + Arm64Layout.MAX_VCPUS
                    + " vCPUs; asked for " + n);
        }
        if (memory.pageSize() % PAGE != 0) {
            throw new IllegalArgumentException("guest memory page size must be a multiple of 16 KiB on Apple "
                    + "silicon, got " + memory.pageSize());
        }
        long end = 0;
        for (MemoryRegion r : regions) {
            if (r.guestAddress() < Arm64Layout.RAM_BASE) {
                throw new IllegalArgumentException("guest RAM at 0x" + Long.toHexString(r.guestAddress())
                        + " overlaps the arm64 device area; RAM starts at 0x" + Long.toHexString(Arm64Layout.RAM_BASE));
            }
            if (r.segment().address() % PAGE != 0 || r.guestAddress() % PAGE != 0 || r.size() % PAGE != 0) {
                throw new IllegalArgumentException("hv_vm_map needs 16 KiB alignment of host address, guest "
                        + "address and size; region at 0x" + Long.toHexString(r.guestAddress()) + " (size "
                        + r.size() + ") is not aligned");
            }
            end = Math.max(end, r.end());
        }
        int defaultBits = hv.defaultIpaBits();
        int needed = Math.max(Arm64Layout.ipaBitsFor(end), 32);
        if (needed > defaultBits) {
            int max = hv.maxIpaBits();
            if (needed > max) {
                throw new IllegalArgumentException("guest RAM ends at 0x" + Long.toHexString(end) + ", beyond this "
                        + "Mac's " + max + "-bit guest-physical address limit");
            }
            ipaBits = parangeBits(needed);
            ipaChanged = true;
        } else {
            ipaBits = defaultBits;
            ipaChanged = false;
        }
        hv.vmCreate(ipaChanged ? ipaBits : 0);
        boolean ok = false;
        try {
            int maxVcpus = hv.maxVcpuCount();
            if (n > maxVcpus) {
                throw new IllegalArgumentException("this Mac's Hypervisor.framework allows at most " + maxVcpus
                        + " vCPUs per VM; asked for " + n);
            }
            gic = hv.gicParams();
            checkGic(gic, n);
            hv.gicCreate(Arm64Layout.GIC_DIST_BASE, Arm64Layout.GIC_REDIST_BASE);
            guestDirty = new AtomicLongArray[regions.size()];
            for (int i = 0; i < regions.size(); i++) {
                MemoryRegion r = regions.get(i);
                hv.vmMap(r.segment(), r.guestAddress(), r.size(), RWX);
                mappedRegions++;
                if (config.trackDirtyPages()) {
                    hv.vmProtect(r.guestAddress(), r.size(), RX);
                }
                guestDirty[i] = new AtomicLongArray((int) ((r.size() / PAGE + 63) / 64));
            }
            vtimerOffset = hv.machAbsoluteTime();
            ok = true;
        } finally {
            if (!ok) {
                destroyQuietly();
                onClose.run();
            }
        }
        vcpus = new HvfVcpu[n];
        power = new HvfState.Power[n];
        pendingEntry = new long[n];
        pendingContext = new long[n];
        for (int i = 0; i < n; i++) {
            power[i] = i == 0 ? HvfState.Power.ON : HvfState.Power.OFF;
        }
    }

    /** PARange-encodable IPA size at least {@code bits}: 32, 36, 40, 42, 44, 48 or 52. */
    static int parangeBits(int bits) {
        for (int b : new int[] {32, 36, 40, 42, 44, 48, 52}) {
            if (b >= bits) {
                return b;
            }
        }
        throw new IllegalArgumentException("no PARange encoding for " + bits + " bits");
    }

    /** ID_AA64MMFR0_EL1.PARange value for an IPA size from {@link #parangeBits}. */
    static int parangeField(int bits) {
        return switch (bits) {
            case 32 -> 0;
            case 36 -> 1;
            case 40 -> 2;
            case 42 -> 3;
            case 44 -> 4;
            case 48 -> 5;
            case 52 -> 6;
            default -> throw new IllegalArgumentException("not a PARange size: " + bits);
        };
    }

    private static void checkGic(HvfLayer.GicParams g, int vcpus) {
        StringBuilder problems = new StringBuilder();
        if (g.distributorSize() <= 0 || g.distributorSize() > Arm64Layout.GIC_DIST_SPACE) {
            problems.append(" distributor size 0x").append(Long.toHexString(g.distributorSize()))
                    .append(" does not fit the 0x").append(Long.toHexString(Arm64Layout.GIC_DIST_SPACE)).append(" reserved;");
        }
        if (g.distributorAlignment() > 0 && Arm64Layout.GIC_DIST_BASE % g.distributorAlignment() != 0) {
            problems.append(" distributor base needs alignment 0x").append(Long.toHexString(g.distributorAlignment())).append(';');
        }
        if (g.redistributorAlignment() > 0 && Arm64Layout.GIC_REDIST_BASE % g.redistributorAlignment() != 0) {
            problems.append(" redistributor base needs alignment 0x")
                    .append(Long.toHexString(g.redistributorAlignment())).append(';');
        }
        if (g.redistributorSize() != Arm64Layout.GIC_REDIST_STRIDE) {
            problems.append(" redistributor size per vCPU is 0x").append(Long.toHexString(g.redistributorSize()))
                    .append(", the device tree assumes 0x20000;");
        }
        if (g.redistributorRegionSize() > Arm64Layout.GIC_REDIST_SPACE
                || g.redistributorRegionSize() < vcpus * g.redistributorSize()) {
            problems.append(" redistributor region of 0x").append(Long.toHexString(g.redistributorRegionSize()))
                    .append(" bytes does not fit the 0x").append(Long.toHexString(Arm64Layout.GIC_REDIST_SPACE))
                    .append(" reserved or does not hold ").append(vcpus).append(" vCPUs;");
        }
        // The core writes the standard device tree (Arm64DeviceTree.Gic.standard): virtual timer
        // INTID 27 (PPI 11), physical 30 (PPI 14), as the SDK's hv_gic_intid_t defines them.
        if (g.virtualTimerIntid() != 27 || g.physicalTimerIntid() != 30) {
            problems.append(" timer INTIDs are ").append(g.virtualTimerIntid()).append('/')
                    .append(g.physicalTimerIntid()).append(", the device tree says 27/30;");
        }
        int lastSpi = Arm64Layout.SPI_INTID_BASE + Arm64Layout.VIRTIO_SPI_BASE + Arm64Layout.VIRTIO_SLOTS - 1;
        if (g.spiBase() > Arm64Layout.SPI_INTID_BASE + Arm64Layout.UART_SPI || g.spiBase() + g.spiCount() <= lastSpi) {
            problems.append(" SPI range [").append(g.spiBase()).append(", +").append(g.spiCount())
                    .append(") does not cover INTIDs 33..").append(lastSpi).append(';');
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException("this Mac's Hypervisor.framework GIC does not fit Ignition's arm64 "
                    + "memory map:" + problems);
        }
    }

    /** The GIC as the device tree must describe it. */
    public Arm64DeviceTree.Gic deviceTreeGic() {
        return new Arm64DeviceTree.Gic(Arm64Layout.GIC_DIST_BASE, Math.min(gic.distributorSize(), 0x1_0000L),
                Arm64Layout.GIC_REDIST_BASE, config.vcpus() * gic.redistributorSize(),
                gic.virtualTimerIntid() - Arm64Layout.PPI_INTID_BASE,
                gic.physicalTimerIntid() - Arm64Layout.PPI_INTID_BASE);
    }

    HvfLayer layer() {
        return hv;
    }

    GuestMemory memory() {
        return memory;
    }

    int vcpuCount() {
        return config.vcpus();
    }

    int ipaBits() {
        return ipaBits;
    }

    boolean ipaChanged() {
        return ipaChanged;
    }

    long vtimerOffset() {
        return vtimerOffset;
    }

    boolean stateRestored() {
        return stateRestored;
    }

    /** The GIC blob was refused and the distributor was restored register by register. */
    boolean gicRegisterFallback() {
        return gicRegisterFallback;
    }

    void markRan() {
        anyRan = true;
    }

    ReentrantLock simdScratchLock() {
        return simdScratchLock;
    }

    /** Guest RAM used as scratch by {@link SimdRestore}: the first bytes of the first region. */
    MemoryRegion scratchRegion() {
        return regions.get(0);
    }

    @Override
    public Vcpu createVcpu(int index, BootState boot) {
        if (Thread.currentThread().isVirtual()) {
            throw new IllegalStateException("Hypervisor.framework binds a vCPU to its creating thread; create and "
                    + "run vCPUs on platform threads, not virtual threads");
        }
        if (index < 0 || index >= config.vcpus()) {
            throw new IllegalArgumentException("vCPU index " + index + " outside [0, " + config.vcpus() + ")");
        }
        BootState.Arm64 arm = switch (boot) {
            case BootState.Arm64 a -> a;
            case BootState.Restored r -> new BootState.Arm64(0, 0); // the restore sets every register
            case BootState.X86LongMode x -> throw new IllegalArgumentException(
                    "the hvf backend boots arm64 guests; got " + boot);
        };
        lock.lock();
        try {
            checkOpen();
            if (vcpus[index] != null || index < nextIndex) {
                throw new IllegalStateException("vCPU " + index + " was already created");
            }
            // hv_vcpu_create numbers vCPUs in call order; create them in index order so a restored
            // VM gets the same ids and redistributors.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CREATE_ORDER_TIMEOUT_SECONDS);
            while (nextIndex != index) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IllegalStateException("vCPU " + index + " waited " + CREATE_ORDER_TIMEOUT_SECONDS
                            + " s for vCPU " + nextIndex + " to be created; create vCPUs in index order");
                }
                changed.awaitNanos(left);
            }
            HvfVcpu v = new HvfVcpu(this, index, arm);
            vcpus[index] = v;
            nextIndex++;
            changed.signalAll();
            return v;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting to create vCPU " + index, e);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void setIrqLine(int irq, boolean high) {
        if (irq < 0 || Arm64Layout.SPI_INTID_BASE + irq >= gic.spiBase() + gic.spiCount()
                || Arm64Layout.SPI_INTID_BASE + irq < gic.spiBase()) {
            throw new IllegalArgumentException("SPI " + irq + " is outside the GIC's SPI range");
        }
        hv.gicSetSpi(Arm64Layout.SPI_INTID_BASE + irq, high);
        if (high) {
            for (HvfVcpu v : vcpus) {
                if (v != null) {
                    v.wake();
                }
            }
        }
    }

    /** Whether {@code ipa} is guest RAM. */
    boolean isRam(long ipa) {
        for (MemoryRegion r : regions) {
            if (r.contains(ipa, 1)) {
                return true;
            }
        }
        return false;
    }

    boolean tracking() {
        return config.trackDirtyPages();
    }

    /** A guest write hit a write-protected page: mark it dirty and let writes through. */
    void onWriteFault(long ipa) {
        long page = ipa & -PAGE;
        dirtyLock.lock();
        try {
            for (int i = 0; i < regions.size(); i++) {
                MemoryRegion r = regions.get(i);
                if (r.contains(page, PAGE)) {
                    long p = (page - r.guestAddress()) / PAGE;
                    AtomicLongArray bits = guestDirty[i];
                    bits.getAndUpdate((int) (p >>> 6), w -> w | 1L << (p & 63));
                    hv.vmProtect(page, PAGE, RWX);
                    return;
                }
            }
            throw new IllegalStateException("write fault outside guest RAM at 0x" + Long.toHexString(ipa));
        } finally {
            dirtyLock.unlock();
        }
    }

    @Override
    public long[] fetchDirtyPages(int regionIndex) {
        if (!config.trackDirtyPages()) {
            throw new IllegalStateException("this VM was created without dirty tracking");
        }
        MemoryRegion r = regions.get(regionIndex);
        AtomicLongArray bits = guestDirty[regionIndex];
        long[] out = new long[bits.length()];
        dirtyLock.lock();
        try {
            // Protect first, then clear: a write between the two is on a page already reported.
            long runStart = -1;
            long pages = r.size() / PAGE;
            for (long p = 0; p <= pages; p++) {
                boolean set = p < pages && (bits.get((int) (p >>> 6)) & 1L << (p & 63)) != 0;
                if (set && runStart < 0) {
                    runStart = p;
                } else if (!set && runStart >= 0) {
                    hv.vmProtect(r.guestAddress() + runStart * PAGE, (p - runStart) * PAGE, RX);
                    runStart = -1;
                }
            }
            for (int i = 0; i < out.length; i++) {
                out[i] = bits.getAndSet(i, 0);
            }
        } finally {
            dirtyLock.unlock();
        }
        return out;
    }

    // --- PSCI power state -------------------------------------------------------------------

    private int indexOfMpidr(long mpidr) {
        long aff = mpidr & 0xff_00ff_ffffL;
        for (int i = 0; i < config.vcpus(); i++) {
            if (Arm64Layout.mpidr(i) == aff) {
                return i;
            }
        }
        return -1;
    }

    /** PSCI CPU_ON from any vCPU; returns the PSCI result for X0. */
    long cpuOn(long targetMpidr, long entry, long contextId) {
        int t = indexOfMpidr(targetMpidr);
        if (t < 0) {
            return Psci.INVALID_PARAMETERS;
        }
        HvfVcpu target;
        lock.lock();
        try {
            switch (power[t]) {
                case ON -> {
                    return Psci.ALREADY_ON;
                }
                case ON_PENDING -> {
                    return Psci.ON_PENDING;
                }
                case OFF -> {
                    power[t] = HvfState.Power.ON_PENDING;
                    pendingEntry[t] = entry;
                    pendingContext[t] = contextId;
                }
            }
            target = vcpus[t];
        } finally {
            lock.unlock();
        }
        if (target != null) {
            target.wake();
        }
        return Psci.SUCCESS;
    }

    long affinityInfo(long targetMpidr, int lowestLevel) {
        int t = indexOfMpidr(targetMpidr);
        if (t < 0 || lowestLevel != 0) {
            return Psci.INVALID_PARAMETERS;
        }
        lock.lock();
        try {
            return switch (power[t]) {
                case ON -> Psci.AFFINITY_ON;
                case OFF -> Psci.AFFINITY_OFF;
                case ON_PENDING -> Psci.AFFINITY_ON_PENDING;
            };
        } finally {
            lock.unlock();
        }
    }

    HvfState.Power power(int index) {
        lock.lock();
        try {
            return power[index];
        } finally {
            lock.unlock();
        }
    }

    void setPower(int index, HvfState.Power p, long entry, long context) {
        lock.lock();
        try {
            power[index] = p;
            pendingEntry[index] = entry;
            pendingContext[index] = context;
        } finally {
            lock.unlock();
        }
    }

    long pendingEntry(int index) {
        lock.lock();
        try {
            return pendingEntry[index];
        } finally {
            lock.unlock();
        }
    }

    long pendingContext(int index) {
        lock.lock();
        try {
            return pendingContext[index];
        } finally {
            lock.unlock();
        }
    }

    // --- snapshots ---------------------------------------------------------------------------

    @Override
    public byte[] captureState() {
        lock.lock();
        try {
            checkOpen();
            for (HvfVcpu v : vcpus) {
                if (v != null && v.running()) {
                    throw new IllegalStateException("vCPU " + v.index() + " is running; stop every vCPU before "
                            + "capturing VM state");
                }
            }
        } finally {
            lock.unlock();
        }
        long counter = hv.machAbsoluteTime() - vtimerOffset;
        byte[] blob = hv.gicGetState();
        return new HvfState.Vm(counter, config.vcpus(), blob, captureDistributor()).encode();
    }

    /**
     * The distributor registers for the register-level fallback, or nothing when the framework
     * does not answer them (the blob alone is then the GIC state).
     */
    private Map<Integer, Long> captureDistributor() {
        Map<Integer, Long> regs = new LinkedHashMap<>();
        try {
            for (int reg : GicRegs.DISTRIBUTOR) {
                regs.put(reg, hv.gicGetDistributorReg(reg));
            }
            return regs;
        } catch (HvfCallException | UnsupportedOperationException e) {
            LOG.warn("GIC distributor registers unreadable ({}); the snapshot relies "
                    + "on the framework's GIC blob alone", e.getMessage());
            return Map.of();
        }
    }

    @Override
    public void restoreState(byte[] state) {
        HvfState.Vm vm = HvfState.Vm.decode(state);
        lock.lock();
        try {
            checkOpen();
            if (vm.vcpus() != config.vcpus()) {
                throw new HvfState.InvalidStateException("snapshot has " + vm.vcpus() + " vCPUs, this VM "
                        + config.vcpus());
            }
            if (nextIndex != config.vcpus()) {
                throw new IllegalStateException("create all " + config.vcpus() + " vCPUs (in index order) before "
                        + "restoring VM state; " + nextIndex + " exist");
            }
            if (anyRan) {
                throw new IllegalStateException("VM state can only be restored before any vCPU has run");
            }
            // The counter continues from its captured value: CNTVCT = mach_absolute_time - offset.
            vtimerOffset = hv.machAbsoluteTime() - vm.guestCounter();
            try {
                hv.gicSetState(vm.gic());
            } catch (HvfCallException refused) {
                if (vm.distributor().isEmpty()) {
                    throw refused;
                }
                // The blob format can change with a macOS update; rebuild the GIC register by register.
                LOG.warn("{}; restoring the GIC register by register", refused.getMessage());
                for (int reg : GicRegs.DISTRIBUTOR) {
                    Long v = vm.distributor().get(reg);
                    if (v != null) {
                        hv.gicSetDistributorReg(reg, v);
                    }
                }
                gicRegisterFallback = true;
            }
            stateRestored = true;
        } finally {
            lock.unlock();
        }
    }

    /** A vCPU finished {@link Vcpu#restoreState}. */
    void vcpuRestored() {
        lock.lock();
        try {
            restoredVcpus++;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * After a VM restore, holds a vCPU's first run until every vCPU has restored its registers:
     * the SIMD restore stub borrows guest RAM, and no guest code may run meanwhile.
     */
    void awaitAllRestored(int index) {
        if (!stateRestored) {
            return;
        }
        lock.lock();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CREATE_ORDER_TIMEOUT_SECONDS);
            while (restoredVcpus < config.vcpus()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IllegalStateException("vCPU " + index + " waited " + CREATE_ORDER_TIMEOUT_SECONDS
                            + " s for the other vCPUs to restore their state (" + restoredVcpus + " of "
                            + config.vcpus() + " done); restore every vCPU before running any");
                }
                changed.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for vCPU restores", e);
        } finally {
            lock.unlock();
        }
    }

    void vcpuClosed(int index) {
        lock.lock();
        try {
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            for (HvfVcpu v : vcpus) {
                if (v != null && !v.isClosed()) {
                    throw new IllegalStateException("close vCPU " + v.index() + " (on its own thread) before the VM");
                }
            }
            closed = true;
        } finally {
            lock.unlock();
        }
        try {
            destroyQuietly();
        } finally {
            onClose.run();
        }
    }

    private void destroyQuietly() {
        RuntimeException first = null;
        for (int i = 0; i < mappedRegions; i++) {
            MemoryRegion r = regions.get(i);
            try {
                hv.vmUnmap(r.guestAddress(), r.size());
            } catch (RuntimeException e) {
                first = first == null ? e : first;
            }
        }
        mappedRegions = 0;
        try {
            hv.vmDestroy();
        } catch (RuntimeException e) {
            first = first == null ? e : first;
        }
        if (first != null) {
            throw first;
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("VM is closed");
        }
    }
}
