package dev.ignition.hvf.internal;

import dev.ignition.internal.arm64.Arm64Layout;
import java.util.ArrayList;
import java.util.List;

/**
 * The GIC registers of the register-level save/restore path, used when the framework refuses a
 * snapshot's GIC blob ({@code hv_gic_set_state} "can fail if a software update has changed the
 * host"). Values are the GICv3 register offsets, which {@code hv_gic_distributor_reg_t} and
 * {@code hv_gic_redistributor_reg_t} equal. Only the INTIDs Ignition's layout uses are covered:
 * SGIs/PPIs per redistributor, and SPIs up to the last virtio-mmio slot's.
 */
final class GicRegs {
    static final int GICD_CTLR = 0x0000;
    /** One past the last INTID the layout wires (SPI of the last virtio slot). */
    static final int INTID_LIMIT = Arm64Layout.SPI_INTID_BASE + Arm64Layout.VIRTIO_SPI_BASE + Arm64Layout.VIRTIO_SLOTS;

    /**
     * Distributor registers in restore order: group, priority and configuration (edge/level)
     * before pending and active state, enables last, CTLR (which enables the groups) at the very
     * end. The fresh GIC has everything clear, so writing the set-registers reproduces the state.
     */
    static final List<Integer> DISTRIBUTOR = distributor();

    /** Redistributor (SGI/PPI) registers in restore order, same reasoning. */
    static final List<Integer> REDISTRIBUTOR = List.of(
            0x10080, // IGROUPR0
            0x10400, 0x10404, 0x10408, 0x1040c, 0x10410, 0x10414, 0x10418, 0x1041c, // IPRIORITYR0-7
            0x10c00, 0x10c04, // ICFGR0-1
            0x10200, // ISPENDR0
            0x10300, // ISACTIVER0
            0x10100); // ISENABLER0

    private GicRegs() {}

    private static List<Integer> distributor() {
        List<Integer> l = new ArrayList<>();
        int words = (INTID_LIMIT + 31) / 32;
        for (int w = 1; w < words; w++) {
            l.add(0x0080 + 4 * w); // IGROUPR
        }
        for (int n = 8; n < (INTID_LIMIT + 3) / 4; n++) {
            l.add(0x0400 + 4 * n); // IPRIORITYR (4 INTIDs each)
        }
        for (int n = 2; n < (INTID_LIMIT + 15) / 16; n++) {
            l.add(0x0c00 + 4 * n); // ICFGR (16 INTIDs each)
        }
        for (int id = Arm64Layout.SPI_INTID_BASE; id < INTID_LIMIT; id++) {
            l.add(0x6000 + 8 * id); // IROUTER
        }
        for (int w = 1; w < words; w++) {
            l.add(0x0200 + 4 * w); // ISPENDR
        }
        for (int w = 1; w < words; w++) {
            l.add(0x0300 + 4 * w); // ISACTIVER
        }
        for (int w = 1; w < words; w++) {
            l.add(0x0100 + 4 * w); // ISENABLER
        }
        l.add(GICD_CTLR);
        return List.copyOf(l);
    }
}
