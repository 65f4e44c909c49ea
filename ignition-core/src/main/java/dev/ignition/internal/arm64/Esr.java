package dev.ignition.internal.arm64;

/**
 * Decoding of the exception syndrome (ESR_ELx) a vCPU exit carries, with the field positions of
 * Linux {@code arch/arm64/include/asm/esr.h}.
 */
public final class Esr {
    public static final int EC_UNKNOWN = 0x00;
    public static final int EC_WFX = 0x01;
    public static final int EC_HVC64 = 0x16;
    public static final int EC_SMC64 = 0x17;
    public static final int EC_SYS64 = 0x18;
    public static final int EC_IABT_LOW = 0x20;
    public static final int EC_DABT_LOW = 0x24;
    public static final int EC_BRK64 = 0x3c;

    /** DFSC type bits (fault type without the level). */
    public static final int FSC_TYPE_MASK = 0x3c;
    public static final int FSC_TRANSLATION = 0x04;
    public static final int FSC_ACCESS_FLAG = 0x08;
    public static final int FSC_PERMISSION = 0x0c;

    private Esr() {}

    /** Exception class, bits [31:26]. */
    public static int ec(long esr) {
        return (int) ((esr >>> 26) & 0x3f);
    }

    /** Instruction length bit 25: 1 for a 32-bit instruction. */
    public static boolean il(long esr) {
        return ((esr >>> 25) & 1) != 0;
    }

    /** Instruction-specific syndrome, bits [24:0]. */
    public static int iss(long esr) {
        return (int) (esr & 0x1ff_ffff);
    }

    /** The 16-bit immediate of an HVC or SMC. */
    public static int hvcImmediate(long esr) {
        return (int) (esr & 0xffff);
    }

    /** For EC 0x01: true for WFE, false for WFI (ISS bit 0; higher TI values are WFIT/WFET). */
    public static boolean isWfe(long esr) {
        return (esr & 1) != 0;
    }

    /**
     * A data abort's syndrome (EC 0x24).
     *
     * @param isv the remaining fields describe the access (bit 24)
     * @param size access size in bytes, {@code 1 << SAS} (bits [23:22])
     * @param signExtend SSE, bit 21: sign-extend a load
     * @param register SRT, bits [20:16]: the transfer register; 31 is XZR
     * @param sixtyFour SF, bit 15: the register is 64-bit (else 32-bit, upper half zeroed)
     * @param cacheMaintenance CM, bit 8
     * @param s1ptw bit 7: fault on a stage-1 page-table walk
     * @param write WnR, bit 6
     * @param dfsc fault status code, bits [5:0]
     */
    public record DataAbort(boolean isv, int size, boolean signExtend, int register, boolean sixtyFour,
                            boolean cacheMaintenance, boolean s1ptw, boolean write, int dfsc) {
        public static DataAbort decode(long esr) {
            return new DataAbort(
                    ((esr >>> 24) & 1) != 0,
                    1 << ((esr >>> 22) & 3),
                    ((esr >>> 21) & 1) != 0,
                    (int) ((esr >>> 16) & 0x1f),
                    ((esr >>> 15) & 1) != 0,
                    ((esr >>> 8) & 1) != 0,
                    ((esr >>> 7) & 1) != 0,
                    ((esr >>> 6) & 1) != 0,
                    (int) (esr & 0x3f));
        }

        public boolean permissionFault() {
            return (dfsc & FSC_TYPE_MASK) == FSC_PERMISSION;
        }

        public boolean translationFault() {
            return (dfsc & FSC_TYPE_MASK) == FSC_TRANSLATION;
        }

        /**
         * The register value a load of {@code raw} produces: truncated to the access size, then
         * sign-extended when SSE says so, to 32 bits (then zero-extended) or 64 bits per SF.
         */
        public long loadValue(long raw) {
            int bits = size * 8;
            long v = bits == 64 ? raw : raw & ((1L << bits) - 1);
            if (signExtend && bits < 64) {
                v = (v << (64 - bits)) >> (64 - bits);
                if (!sixtyFour) {
                    v &= 0xffff_ffffL;
                }
            }
            return v;
        }

        /** The bytes a store of register value {@code reg} writes: its low {@code size} bytes. */
        public long storeValue(long reg) {
            return size == 8 ? reg : reg & ((1L << (size * 8)) - 1);
        }
    }

    /**
     * A trapped MSR/MRS (EC 0x18).
     *
     * @param read MRS (true) or MSR
     * @param register Rt; 31 is XZR
     * @param op0 bits [21:20]
     * @param op1 bits [16:14]
     * @param crn bits [13:10]
     * @param crm bits [4:1]
     * @param op2 bits [19:17]
     */
    public record SysRegTrap(boolean read, int register, int op0, int op1, int crn, int crm, int op2) {
        public static SysRegTrap decode(long esr) {
            return new SysRegTrap((esr & 1) != 0, (int) ((esr >>> 5) & 0x1f), (int) ((esr >>> 20) & 3),
                    (int) ((esr >>> 14) & 7), (int) ((esr >>> 10) & 0xf), (int) ((esr >>> 1) & 0xf),
                    (int) ((esr >>> 17) & 7));
        }

        /** The register's name in the architecture's {@code S<op0>_<op1>_C<n>_C<m>_<op2>} form. */
        public String name() {
            return "S" + op0 + "_" + op1 + "_C" + crn + "_C" + crm + "_" + op2;
        }
    }
}
