package dev.ignition.internal.arm64;

/**
 * The guest-physical memory map of an Ignition arm64 VM. It is QEMU's {@code virt} machine map
 * (GICv3 distributor at 0x0800_0000, redistributors from 0x080A_0000, PL011 at 0x0900_0000,
 * virtio-mmio slots from 0x0A00_0000, RAM from 1 GiB), which the Apple-GIC work in QEMU also uses
 * on Hypervisor.framework, and which lets our device tree be checked under
 * {@code qemu-system-aarch64 -M virt}.
 *
 * <p>RAM is 16 KiB aligned in base and size: Hypervisor.framework maps host pages, which are
 * 16 KiB on Apple silicon.
 */
public final class Arm64Layout {
    /** Granule of RAM base and size (the Apple silicon host page). */
    public static final long RAM_ALIGNMENT = 16 * 1024;
    public static final long RAM_BASE = 0x4000_0000L;
    public static final long GIC_DIST_BASE = 0x0800_0000L;
    /** Room reserved for the distributor, up to the redistributors. */
    public static final long GIC_DIST_SPACE = 0x000A_0000L;
    public static final long GIC_REDIST_BASE = 0x080A_0000L;
    /** Two 64 KiB frames (RD_base and SGI_base) per vCPU. */
    public static final long GIC_REDIST_STRIDE = 0x2_0000L;
    /** Room reserved for redistributors, up to the UART: 123 vCPUs. */
    public static final long GIC_REDIST_SPACE = 0x00F6_0000L;
    public static final long UART_BASE = 0x0900_0000L;
    public static final long UART_SIZE = 0x1000L;
    /** The UART's SPI (INTID 33). */
    public static final int UART_SPI = 1;
    public static final long VIRTIO_BASE = 0x0A00_0000L;
    public static final long VIRTIO_STRIDE = 0x200L;
    public static final int VIRTIO_SLOTS = 32;
    /** SPI of virtio-mmio slot 0; slot {@code n} uses {@code VIRTIO_SPI_BASE + n}. */
    public static final int VIRTIO_SPI_BASE = 16;
    /** INTID of SPI 0. */
    public static final int SPI_INTID_BASE = 32;
    /** INTID of PPI 0. */
    public static final int PPI_INTID_BASE = 16;
    /** Most vCPUs the redistributor space holds. */
    public static final int MAX_VCPUS = (int) (GIC_REDIST_SPACE / GIC_REDIST_STRIDE);

    private Arm64Layout() {}

    /** Base address of virtio-mmio slot {@code slot}. */
    public static long virtioBase(int slot) {
        checkSlot(slot);
        return VIRTIO_BASE + slot * VIRTIO_STRIDE;
    }

    /** SPI number of virtio-mmio slot {@code slot}. */
    public static int virtioSpi(int slot) {
        checkSlot(slot);
        return VIRTIO_SPI_BASE + slot;
    }

    /**
     * The MPIDR_EL1 affinity of vCPU {@code index}: 16 vCPUs per Aff1 cluster, so that GICv3 SGI
     * target lists (16 bits of Aff0) reach every vCPU.
     */
    public static long mpidr(int index) {
        if (index < 0 || index >= MAX_VCPUS) {
            throw new IllegalArgumentException("vCPU index " + index + " outside [0, " + MAX_VCPUS + ")");
        }
        return ((long) (index / 16) << 8) | (index % 16);
    }

    /**
     * Checks a RAM size for this map: a positive multiple of {@link #RAM_ALIGNMENT} that fits
     * below {@code 2^ipaBits}.
     */
    public static void checkRamSize(long bytes, int ipaBits) {
        if (bytes <= 0 || bytes % RAM_ALIGNMENT != 0) {
            throw new IllegalArgumentException("arm64 guest RAM must be a positive multiple of 16 KiB, got "
                    + bytes + " bytes");
        }
        long limit = ipaBits >= 63 ? Long.MAX_VALUE : 1L << ipaBits;
        if (bytes > limit - RAM_BASE) {
            throw new IllegalArgumentException("arm64 guest RAM of " + bytes + " bytes does not fit below the "
                    + ipaBits + "-bit guest-physical limit (RAM starts at 1 GiB)");
        }
    }

    /** Bits of guest-physical address needed to reach {@code end - 1}. */
    public static int ipaBitsFor(long end) {
        return 64 - Long.numberOfLeadingZeros(end - 1);
    }

    private static void checkSlot(int slot) {
        if (slot < 0 || slot >= VIRTIO_SLOTS) {
            throw new IllegalArgumentException("virtio-mmio slot " + slot + " outside [0, " + VIRTIO_SLOTS + ")");
        }
    }
}
