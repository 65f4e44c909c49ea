package dev.ignition.hvf.internal;

import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Register numbering of the framework ({@code hv_reg_t}, {@code hv_sys_reg_t},
 * {@code hv_gic_icc_reg_t} in {@code hv_vcpu_types.h} / {@code hv_gic_types.h}) and the list of
 * system registers a snapshot saves. {@code hv_sys_reg_t} values are the architectural encoding
 * {@code op0<<14 | op1<<11 | CRn<<7 | CRm<<3 | op2}.
 */
public final class Arm64Regs {
    /** {@code HV_REG_X0}; X{@code n} is {@code n} for n in 0..30. There is no SP: see SP_EL0/SP_EL1. */
    public static final int X0 = 0;
    public static final int PC = 31;
    public static final int FPCR = 32;
    public static final int FPSR = 33;
    public static final int CPSR = 34;

    public static final int MIDR_EL1 = 0xc000;
    public static final int MPIDR_EL1 = 0xc005;
    public static final int ID_AA64PFR0_EL1 = 0xc020;
    public static final int ID_AA64PFR1_EL1 = 0xc021;
    public static final int ID_AA64MMFR0_EL1 = 0xc038;
    public static final int SCTLR_EL1 = 0xc080;
    public static final int CPACR_EL1 = 0xc082;
    public static final int CNTV_CTL_EL0 = 0xdf19;
    public static final int CNTV_CVAL_EL0 = 0xdf1a;

    /** EL1h with D, A, I, F masked: the arm64 boot protocol's entry state (0x3c5). */
    public static final long CPSR_EL1H_DAIF = 0x5 | 0x40 | 0x80 | 0x100 | 0x200;
    /** CPACR_EL1.FPEN = 0b11: FP/SIMD at EL0 and EL1 without traps. */
    public static final long CPACR_FPEN = 3L << 20;

    /**
     * One system register a snapshot saves.
     *
     * @param name architectural name
     * @param id {@code hv_sys_reg_t}
     * @param optional exists only on newer macOS (15.2 SME-era registers): skipped when the
     *        framework refuses it
     * @param idRegister a read-mostly ID register: restored only when its value differs
     */
    public record SysReg(String name, int id, boolean optional, boolean idRegister) {}

    /** What a snapshot saves, in restore order: MPIDR first (the GIC routes by it). */
    public static final List<SysReg> SNAPSHOT_SYS_REGS = snapshotList();

    /** The ICC registers saved per vCPU, in restore order (hv_gic_icc_reg_t; RPR is read-only). */
    public static final List<SysReg> SNAPSHOT_ICC_REGS = List.of(
            new SysReg("ICC_SRE_EL1", 0xc665, false, false),
            new SysReg("ICC_CTLR_EL1", 0xc664, false, false),
            new SysReg("ICC_PMR_EL1", 0xc230, false, false),
            new SysReg("ICC_BPR0_EL1", 0xc643, false, false),
            new SysReg("ICC_BPR1_EL1", 0xc663, false, false),
            new SysReg("ICC_AP0R0_EL1", 0xc644, false, false),
            new SysReg("ICC_AP1R0_EL1", 0xc648, false, false),
            new SysReg("ICC_IGRPEN0_EL1", 0xc666, false, false),
            new SysReg("ICC_IGRPEN1_EL1", 0xc667, false, false));

    private Arm64Regs() {}

    /** {@code hv_sys_reg_t} of the register with encoding (op0, op1, CRn, CRm, op2). */
    public static int sysReg(int op0, int op1, int crn, int crm, int op2) {
        return op0 << 14 | op1 << 11 | crn << 7 | crm << 3 | op2;
    }

    private static List<SysReg> snapshotList() {
        List<SysReg> l = new ArrayList<>();
        l.add(new SysReg("MPIDR_EL1", MPIDR_EL1, false, false));
        idReg(l, "MIDR_EL1", 0xc000);
        idReg(l, "ID_AA64PFR0_EL1", 0xc020);
        idReg(l, "ID_AA64PFR1_EL1", 0xc021);
        l.add(new SysReg("ID_AA64ZFR0_EL1", 0xc024, true, true));
        l.add(new SysReg("ID_AA64SMFR0_EL1", 0xc025, true, true));
        idReg(l, "ID_AA64DFR0_EL1", 0xc028);
        idReg(l, "ID_AA64DFR1_EL1", 0xc029);
        idReg(l, "ID_AA64ISAR0_EL1", 0xc030);
        idReg(l, "ID_AA64ISAR1_EL1", 0xc031);
        idReg(l, "ID_AA64MMFR0_EL1", 0xc038);
        idReg(l, "ID_AA64MMFR1_EL1", 0xc039);
        idReg(l, "ID_AA64MMFR2_EL1", 0xc03a);
        reg(l, "SCTLR_EL1", 0xc080);
        reg(l, "ACTLR_EL1", 0xc081);
        reg(l, "CPACR_EL1", 0xc082);
        l.add(new SysReg("SMPRI_EL1", 0xc094, true, false));
        l.add(new SysReg("SMCR_EL1", 0xc096, true, false));
        reg(l, "TTBR0_EL1", 0xc100);
        reg(l, "TTBR1_EL1", 0xc101);
        reg(l, "TCR_EL1", 0xc102);
        reg(l, "APIAKEYLO_EL1", 0xc108);
        reg(l, "APIAKEYHI_EL1", 0xc109);
        reg(l, "APIBKEYLO_EL1", 0xc10a);
        reg(l, "APIBKEYHI_EL1", 0xc10b);
        reg(l, "APDAKEYLO_EL1", 0xc110);
        reg(l, "APDAKEYHI_EL1", 0xc111);
        reg(l, "APDBKEYLO_EL1", 0xc112);
        reg(l, "APDBKEYHI_EL1", 0xc113);
        reg(l, "APGAKEYLO_EL1", 0xc118);
        reg(l, "APGAKEYHI_EL1", 0xc119);
        reg(l, "SPSR_EL1", 0xc200);
        reg(l, "ELR_EL1", 0xc201);
        reg(l, "SP_EL0", 0xc208);
        reg(l, "AFSR0_EL1", 0xc288);
        reg(l, "AFSR1_EL1", 0xc289);
        reg(l, "ESR_EL1", 0xc290);
        reg(l, "FAR_EL1", 0xc300);
        reg(l, "PAR_EL1", 0xc3a0);
        reg(l, "MAIR_EL1", 0xc510);
        reg(l, "AMAIR_EL1", 0xc518);
        reg(l, "VBAR_EL1", 0xc600);
        reg(l, "CONTEXTIDR_EL1", 0xc681);
        reg(l, "TPIDR_EL1", 0xc684);
        l.add(new SysReg("SCXTNUM_EL1", 0xc687, true, false));
        reg(l, "CNTKCTL_EL1", 0xc708);
        reg(l, "CSSELR_EL1", 0xd000);
        reg(l, "TPIDR_EL0", 0xde82);
        reg(l, "TPIDRRO_EL0", 0xde83);
        l.add(new SysReg("TPIDR2_EL0", 0xde85, true, false));
        l.add(new SysReg("SCXTNUM_EL0", 0xde87, true, false));
        reg(l, "CNTV_CTL_EL0", CNTV_CTL_EL0);
        reg(l, "CNTV_CVAL_EL0", CNTV_CVAL_EL0);
        reg(l, "CNTP_CTL_EL0", 0xdf11);
        reg(l, "CNTP_CVAL_EL0", 0xdf12);
        reg(l, "SP_EL1", 0xe208);
        reg(l, "MDCCINT_EL1", 0x8010);
        reg(l, "MDSCR_EL1", 0x8012);
        for (int n = 0; n < 16; n++) {
            reg(l, "DBGBVR" + n + "_EL1", 0x8004 + 8 * n);
            reg(l, "DBGBCR" + n + "_EL1", 0x8005 + 8 * n);
            reg(l, "DBGWVR" + n + "_EL1", 0x8006 + 8 * n);
            reg(l, "DBGWCR" + n + "_EL1", 0x8007 + 8 * n);
        }
        return List.copyOf(l);
    }

    private static void reg(List<SysReg> l, String name, int id) {
        l.add(new SysReg(name, id, false, false));
    }

    private static void idReg(List<SysReg> l, String name, int id) {
        l.add(new SysReg(name, id, false, true));
    }

    /** The list entry for {@code id}, or null. */
    static @Nullable SysReg byId(int id) {
        for (SysReg r : SNAPSHOT_SYS_REGS) {
            if (r.id() == id) {
                return r;
            }
        }
        return null;
    }
}
