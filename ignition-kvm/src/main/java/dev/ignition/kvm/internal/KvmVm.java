package dev.ignition.kvm.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.ignition.IgnitionException;
import dev.ignition.device.InterruptLine;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.spi.BootState;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VmConfig;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Optional;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A KVM VM: memory slots (one per {@link MemoryRegion}) on a shell from {@link KvmShells} (the VM
 * fd with the in-kernel irqchip — PICs, IOAPIC, LAPICs — and PIT, made before any vCPU as the
 * kernel requires), and irqfds for edge-triggered lines where the kernel has {@code KVM_CAP_IRQFD}.
 */
final class KvmVm implements HypervisorVm, KvmVcpu.Host {
    private static final Logger LOG = LoggerFactory.getLogger(KvmVm.class);
    /** System property: {@code false} keeps every line on {@code KVM_IRQ_LINE} (for comparison). */
    static final String IRQFD_PROPERTY = "ignition.kvm.irqfd";

    final KvmSystem system;
    private final KvmLayer kvm;
    final int vmFd;
    final GuestMemory memory;
    private final boolean trackDirty;
    private final KvmIrqfds irqfds;
    private final Object lifecycle = new Object();
    private boolean closed;

    KvmVm(KvmSystem system, VmConfig config) {
        this.system = system;
        this.kvm = system.layer;
        this.memory = config.memory();
        this.trackDirty = config.trackDirtyPages();
        KvmShells.Shell shell = system.shells.take();
        this.vmFd = shell.vmFd();
        try {
            int slot = 0;
            for (MemoryRegion r : memory.regions()) {
                setMemoryRegion(slot++, r);
            }
            this.irqfds = new KvmIrqfds(vmFd, irqfdsWanted(System.getProperty(IRQFD_PROPERTY)) && shell.irqfdCapable());
            LOG.debug("KVM VM: edge-triggered (virtio) interrupts via {}", irqfds.supported()
                    ? "irqfd (KVM_IRQFD)" : "KVM_IRQ_LINE (irqfd unavailable or disabled by -D" + IRQFD_PROPERTY + "=false)");
        } catch (RuntimeException e) {
            try {
                system.shells.retire(vmFd);
            } catch (RuntimeException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    private void setMemoryRegion(int slot, MemoryRegion r) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(KvmStructs.KVM_USERSPACE_MEMORY_REGION);
            KvmStructs.MEMREGION_SLOT.set(m, 0L, slot);
            KvmStructs.MEMREGION_FLAGS.set(m, 0L, trackDirty ? KvmIoctl.MEM_LOG_DIRTY_PAGES : 0);
            KvmStructs.MEMREGION_GPA.set(m, 0L, r.guestAddress());
            KvmStructs.MEMREGION_SIZE.set(m, 0L, r.size());
            KvmStructs.MEMREGION_UADDR.set(m, 0L, r.segment().address());
            kvm.ioctl(vmFd, KvmIoctl.SET_USER_MEMORY_REGION, m,
                    "KVM_SET_USER_MEMORY_REGION slot " + slot + " at 0x" + Long.toHexString(r.guestAddress()));
        }
    }

    @Override
    public Vcpu createVcpu(int index, BootState boot) {
        return switch (boot) {
            case BootState.X86LongMode lm -> new KvmVcpu(this, index, lm);
            case BootState.Restored r -> new KvmVcpu(this, index, null);
            case BootState.Arm64 a -> throw new IllegalArgumentException("the KVM backend runs x86_64 guests, not " + boot);
        };
    }

    @Override
    public void setIrqLine(int irq, boolean high) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment l = a.allocate(KvmStructs.KVM_IRQ_LEVEL);
            KvmStructs.IRQ_LEVEL_IRQ.set(l, 0L, irq);
            KvmStructs.IRQ_LEVEL_LEVEL.set(l, 0L, high ? 1 : 0);
            kvm.ioctl(vmFd, KvmIoctl.IRQ_LINE, l, "KVM_IRQ_LINE");
        }
    }

    /** Whether the {@link #IRQFD_PROPERTY} value allows irqfds (anything but {@code false}). */
    static boolean irqfdsWanted(@Nullable String property) {
        return property == null || !property.trim().equalsIgnoreCase("false");
    }

    @Override
    public Optional<InterruptLine> edgeInterruptLine(int irq) {
        return irqfds.line(irq);
    }

    @Override
    public long[] fetchDirtyPages(int regionIndex) {
        if (!trackDirty) {
            throw new IllegalStateException("this VM was created without dirty page tracking");
        }
        MemoryRegion r = memory.regions().get(regionIndex);
        int words = (int) ((memory.pagesIn(r) + 63) / 64);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment bitmap = a.allocate(JAVA_LONG, words);
            MemorySegment log = a.allocate(KvmStructs.KVM_DIRTY_LOG);
            KvmStructs.DIRTY_LOG_SLOT.set(log, 0L, regionIndex);
            KvmStructs.DIRTY_LOG_BITMAP.set(log, 0L, bitmap.address());
            kvm.ioctl(vmFd, KvmIoctl.GET_DIRTY_LOG, log, "KVM_GET_DIRTY_LOG slot " + regionIndex);
            return bitmap.toArray(JAVA_LONG);
        }
    }

    private static final int IRQCHIP_SIZE = 520;
    /** {@code KVM_IRQCHIP_PIC_MASTER}, {@code _PIC_SLAVE}, {@code _IOAPIC}. */
    private static final int IRQCHIPS = 3;
    private static final int PIT_STATE2_SIZE = 112;
    private static final int CLOCK_DATA_SIZE = 48;

    @Override
    public byte[] captureState() {
        return captureState(kvm, vmFd);
    }

    @Override
    public void restoreState(byte[] state) {
        restoreState(kvm, vmFd, state);
    }

    /** The VM-wide state KVM keeps: the PIT, the clock, the PICs and the IOAPIC. */
    static byte[] captureState(KvmLayer kvm, int vmFd) {
        KvmStateCodec s = new KvmStateCodec(KvmStateCodec.Kind.VM);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pit = a.allocate(PIT_STATE2_SIZE, 8);
            kvm.ioctl(vmFd, KvmIoctl.GET_PIT2, pit, "KVM_GET_PIT2");
            s.put("pit2", pit.toArray(JAVA_BYTE));
            MemorySegment clock = a.allocate(CLOCK_DATA_SIZE, 8);
            kvm.ioctl(vmFd, KvmIoctl.GET_CLOCK, clock, "KVM_GET_CLOCK");
            // Only the clock value is restored; flags such as TSC_STABLE describe this host.
            clock.asSlice(8, CLOCK_DATA_SIZE - 8).fill((byte) 0);
            s.put("clock", clock.toArray(JAVA_BYTE));
            for (int chip = 0; chip < IRQCHIPS; chip++) {
                MemorySegment c = a.allocate(IRQCHIP_SIZE, 8);
                c.set(JAVA_INT, 0, chip);
                kvm.ioctl(vmFd, KvmIoctl.GET_IRQCHIP, c, "KVM_GET_IRQCHIP " + chip);
                s.put("irqchip" + chip, c.toArray(JAVA_BYTE));
            }
        }
        return s.encode();
    }

    /** Restores {@link #captureState(KvmLayer, int)}'s blob; every record is checked before any ioctl. */
    static void restoreState(KvmLayer kvm, int vmFd, byte[] state) {
        KvmStateCodec s = KvmStateCodec.decode(KvmStateCodec.Kind.VM, state);
        byte[] pit = s.get("pit2", PIT_STATE2_SIZE);
        byte[] clock = s.get("clock", CLOCK_DATA_SIZE);
        byte[][] chips = new byte[IRQCHIPS][];
        for (int chip = 0; chip < IRQCHIPS; chip++) {
            chips[chip] = s.get("irqchip" + chip, IRQCHIP_SIZE);
            if (ByteBuffer.wrap(chips[chip]).order(ByteOrder.LITTLE_ENDIAN).getInt(0) != chip) {
                throw new IgnitionException("KVM VM state: irqchip record " + chip + " is corrupt");
            }
        }
        try (Arena a = Arena.ofConfined()) {
            kvm.ioctl(vmFd, KvmIoctl.SET_PIT2, KvmStructs.nativeCopy(a, pit), "KVM_SET_PIT2");
            kvm.ioctl(vmFd, KvmIoctl.SET_CLOCK, KvmStructs.nativeCopy(a, clock), "KVM_SET_CLOCK");
            for (int chip = 0; chip < IRQCHIPS; chip++) {
                kvm.ioctl(vmFd, KvmIoctl.SET_IRQCHIP, KvmStructs.nativeCopy(a, chips[chip]), "KVM_SET_IRQCHIP " + chip);
            }
        }
    }

    // ---- KvmVcpu.Host ----

    @Override
    public KvmLayer layer() {
        return kvm;
    }

    @Override
    public int vmFd() {
        return vmFd;
    }

    @Override
    public long runSize() {
        return system.vcpuMmapSize;
    }

    @Override
    public byte[] supportedCpuid() {
        return system.supportedCpuid;
    }

    @Override
    public int[] candidateMsrs() {
        return system.candidateMsrs();
    }

    @Override
    public void rememberSnapshotMsrs(int[] readable) {
        system.rememberSnapshotMsrs(readable);
    }

    @Override
    public void close() {
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
        }
        try {
            irqfds.close();
        } finally {
            system.shells.retire(vmFd); // the kernel's teardown of the VM may take a while: see KvmShells
        }
    }
}
