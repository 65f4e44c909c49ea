package dev.ignition.internal.arm64;

import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Builds the device tree an arm64 Linux kernel boots with on Ignition's platform: memory, CPUs
 * started through PSCI over HVC, the GICv3 distributor and redistributors, the architected timer,
 * a PL011 UART as console, virtio-mmio slots, and {@code /chosen} (bootargs, initrd, stdout).
 *
 * <pre>{@code
 * byte[] dtb = Arm64DeviceTree.build(new Arm64DeviceTree.Spec(
 *         Arm64Layout.RAM_BASE, 256L << 20, 1, Arm64DeviceTree.Gic.standard(1, 11),
 *         List.of(0), "console=ttyAMA0", null));
 * }</pre>
 */
public final class Arm64DeviceTree {
    /** phandle of the GIC, the root's interrupt parent. */
    public static final int GIC_PHANDLE = 1;
    /** phandle of the fixed 24 MHz clock the PL011 needs. */
    public static final int CLOCK_PHANDLE = 2;
    static final int GIC_SPI = 0;
    static final int GIC_PPI = 1;
    static final int IRQ_LEVEL_HIGH = 4;

    private Arm64DeviceTree() {}

    /**
     * Interrupt controller and timer wiring.
     *
     * @param distBase distributor base
     * @param distSize distributor size
     * @param redistBase base of the contiguous redistributor region
     * @param redistSize size of that region (vCPUs × 128 KiB at least)
     * @param virtualTimerPpi the EL1 virtual timer's PPI number (INTID − 16); 11 on every GIC we know
     * @param physicalTimerPpi the EL1 non-secure physical timer's PPI number; 14
     */
    public record Gic(long distBase, long distSize, long redistBase, long redistSize,
                      int virtualTimerPpi, int physicalTimerPpi) {
        public Gic {
            if (distSize <= 0 || redistSize <= 0) {
                throw new IllegalArgumentException("GIC region sizes must be positive");
            }
            if (distBase + distSize > redistBase && redistBase + redistSize > distBase) {
                throw new IllegalArgumentException("GIC distributor and redistributor regions overlap");
            }
            checkPpi(virtualTimerPpi);
            checkPpi(physicalTimerPpi);
        }

        /** The standard layout for {@code vcpus} vCPUs with the given virtual-timer PPI. */
        public static Gic standard(int vcpus, int virtualTimerPpi) {
            return new Gic(Arm64Layout.GIC_DIST_BASE, 0x1_0000, Arm64Layout.GIC_REDIST_BASE,
                    vcpus * Arm64Layout.GIC_REDIST_STRIDE, virtualTimerPpi, 14);
        }

        private static void checkPpi(int ppi) {
            if (ppi < 0 || ppi > 15) {
                throw new IllegalArgumentException("PPI number out of range: " + ppi);
            }
        }
    }

    /** An initrd already placed in guest memory at {@code [start, end)}. */
    public record Initrd(long start, long end) {
        public Initrd {
            if (end < start) {
                throw new IllegalArgumentException("initrd end before start");
            }
        }
    }

    /**
     * Everything the tree describes.
     *
     * @param ramBase guest-physical base of RAM
     * @param ramSize bytes of RAM
     * @param vcpus number of vCPUs; CPU {@code i} has MPIDR {@link Arm64Layout#mpidr(int)}
     * @param gic interrupt controller wiring
     * @param virtioSlots virtio-mmio slots to declare (indexes into the layout's slots)
     * @param bootargs the kernel command line
     * @param initrd the initrd, or null
     */
    public record Spec(long ramBase, long ramSize, int vcpus, Gic gic, List<Integer> virtioSlots,
                       String bootargs, @Nullable Initrd initrd) {
        public Spec {
            Objects.requireNonNull(gic, "gic");
            Objects.requireNonNull(bootargs, "bootargs");
            virtioSlots = List.copyOf(virtioSlots);
            if (vcpus < 1 || vcpus > Arm64Layout.MAX_VCPUS) {
                throw new IllegalArgumentException("vcpus must be in [1, " + Arm64Layout.MAX_VCPUS + "]: " + vcpus);
            }
            if (gic.redistSize() < vcpus * Arm64Layout.GIC_REDIST_STRIDE) {
                throw new IllegalArgumentException("redistributor region too small for " + vcpus + " vCPUs");
            }
            if (ramSize <= 0) {
                throw new IllegalArgumentException("RAM size must be positive");
            }
            for (int s : virtioSlots) {
                Arm64Layout.virtioBase(s);
            }
        }
    }

    /** The DTB for {@code spec}. */
    public static byte[] build(Spec spec) {
        Fdt f = new Fdt();
        f.beginNode("");
        f.propertyString("compatible", "linux,dummy-virt");
        f.propertyString("model", "ignition");
        f.propertyU32("#address-cells", 2);
        f.propertyU32("#size-cells", 2);
        f.propertyU32("interrupt-parent", GIC_PHANDLE);

        String uartPath = "/pl011@" + Long.toHexString(Arm64Layout.UART_BASE);
        f.beginNode("chosen");
        f.propertyString("bootargs", spec.bootargs());
        f.propertyString("stdout-path", uartPath);
        if (spec.initrd() != null) {
            f.propertyU64("linux,initrd-start", spec.initrd().start());
            f.propertyU64("linux,initrd-end", spec.initrd().end());
        }
        f.endNode();

        f.beginNode("memory@" + Long.toHexString(spec.ramBase()));
        f.propertyString("device_type", "memory");
        f.propertyU64("reg", spec.ramBase(), spec.ramSize());
        f.endNode();

        f.beginNode("cpus");
        f.propertyU32("#address-cells", 1);
        f.propertyU32("#size-cells", 0);
        for (int i = 0; i < spec.vcpus(); i++) {
            long mpidr = Arm64Layout.mpidr(i);
            f.beginNode("cpu@" + Long.toHexString(mpidr));
            f.propertyString("device_type", "cpu");
            f.propertyString("compatible", "arm,arm-v8");
            f.propertyU32("reg", (int) mpidr);
            f.propertyString("enable-method", "psci");
            f.endNode();
        }
        f.endNode();

        f.beginNode("psci");
        f.propertyString("compatible", "arm,psci-1.0", "arm,psci-0.2");
        f.propertyString("method", "hvc");
        f.endNode();

        Gic g = spec.gic();
        f.beginNode("intc@" + Long.toHexString(g.distBase()));
        f.propertyString("compatible", "arm,gic-v3");
        f.propertyU32("#interrupt-cells", 3);
        // Interrupt providers carry #address-cells (dtc checks it; QEMU's virt GICv3 does the same).
        f.propertyU32("#address-cells", 2);
        f.propertyU32("#size-cells", 2);
        f.property("ranges");
        f.property("interrupt-controller");
        f.propertyU32("#redistributor-regions", 1);
        f.propertyU64("reg", g.distBase(), g.distSize(), g.redistBase(), g.redistSize());
        f.propertyU32("phandle", GIC_PHANDLE);
        f.endNode();

        f.beginNode("timer");
        f.propertyString("compatible", "arm,armv8-timer");
        // Order fixed by the binding: secure phys, non-secure phys, virtual, hypervisor.
        f.propertyU32("interrupts",
                GIC_PPI, 13, IRQ_LEVEL_HIGH,
                GIC_PPI, g.physicalTimerPpi(), IRQ_LEVEL_HIGH,
                GIC_PPI, g.virtualTimerPpi(), IRQ_LEVEL_HIGH,
                GIC_PPI, 10, IRQ_LEVEL_HIGH);
        f.property("always-on");
        f.endNode();

        f.beginNode("apb-pclk");
        f.propertyString("compatible", "fixed-clock");
        f.propertyU32("#clock-cells", 0);
        f.propertyU32("clock-frequency", 24_000_000);
        f.propertyString("clock-output-names", "clk24mhz");
        f.propertyU32("phandle", CLOCK_PHANDLE);
        f.endNode();

        f.beginNode(uartPath.substring(1));
        f.propertyString("compatible", "arm,pl011", "arm,primecell");
        f.propertyU64("reg", Arm64Layout.UART_BASE, Arm64Layout.UART_SIZE);
        f.propertyU32("interrupts", GIC_SPI, Arm64Layout.UART_SPI, IRQ_LEVEL_HIGH);
        f.propertyU32("clocks", CLOCK_PHANDLE, CLOCK_PHANDLE);
        f.propertyString("clock-names", "uartclk", "apb_pclk");
        f.endNode();

        for (int slot : spec.virtioSlots()) {
            long base = Arm64Layout.virtioBase(slot);
            f.beginNode("virtio_mmio@" + Long.toHexString(base));
            f.propertyString("compatible", "virtio,mmio");
            f.propertyU64("reg", base, Arm64Layout.VIRTIO_STRIDE);
            f.propertyU32("interrupts", GIC_SPI, Arm64Layout.virtioSpi(slot), IRQ_LEVEL_HIGH);
            f.property("dma-coherent");
            f.endNode();
        }

        f.endNode();
        return f.finish();
    }
}
