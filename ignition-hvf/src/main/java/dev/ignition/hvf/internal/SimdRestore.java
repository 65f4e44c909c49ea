package dev.ignition.hvf.internal;

import dev.ignition.internal.arm64.Esr;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Restores Q0..Q31 without {@code hv_vcpu_set_simd_fp_reg}.
 *
 * <p>Why: that function takes {@code hv_simd_fp_uchar16_t} — a 16-byte
 * {@code ext_vector_type} — <em>by value</em>, which AAPCS64 passes in register V0. FFM has no
 * vector layout (its canonical layouts are scalars and pointers), and every layout it does have
 * goes elsewhere: two longs in X2/X3, a struct of two doubles in D0/D1, one double in D0 with the
 * upper half zeroed. So the setter cannot be called correctly from pure Java. (Reading is fine:
 * the getter takes a pointer.)
 *
 * <p>What instead: the vCPU loads its own registers. A 68-byte stub — sixteen
 * {@code ldp qN, qN+1, [x0, #32*i]} and {@code hvc #0x1f0} — and the 512 register bytes are
 * written to a scratch RAM page (saved first, put back after); the vCPU runs it with the MMU off
 * (SCTLR_EL1.M/C/I cleared), FP enabled (CPACR_EL1.FPEN = 0b11), interrupts masked, and exits on
 * the HVC. The caller then restores every general and system register, so nothing of the stub's
 * set-up survives. A watchdog kicks the vCPU after two seconds so a stub that does not reach its
 * HVC fails loudly instead of hanging. The alternative, a signed C shim dylib that takes a
 * pointer, would need a C toolchain and a second signing step on every user's Mac.
 */
public final class SimdRestore {
    /** The HVC immediate that marks the stub's end; Linux's own HVCs use #0. */
    public static final int HVC_MARKER = 0x1f0;
    static final int CODE_WORDS = 17;
    /** Offset of the register data in the scratch area (16-byte aligned). */
    static final int DATA_OFFSET = 0x100;
    /** Bytes of scratch the stub needs. */
    public static final int SCRATCH_BYTES = DATA_OFFSET + 32 * 16;
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "ignition-hvf-simd-watchdog");
        t.setDaemon(true);
        return t;
    });

    private SimdRestore() {}

    /** {@code LDP Qt, Qt2, [Xn, #offset]} (signed offset, 128-bit SIMD&FP variant). */
    static int ldpQ(int rt, int rt2, int rn, int offset) {
        if (offset % 16 != 0 || offset < -1024 || offset > 1008) {
            throw new IllegalArgumentException("LDP Q offset must be a multiple of 16 in [-1024, 1008]");
        }
        int imm7 = (offset / 16) & 0x7f;
        return 0xAD40_0000 | imm7 << 15 | rt2 << 10 | rn << 5 | rt;
    }

    /** {@code HVC #imm}. */
    static int hvc(int imm) {
        return 0xD400_0002 | (imm & 0xffff) << 5;
    }

    /** The stub's instruction words. */
    static int[] code() {
        int[] c = new int[CODE_WORDS];
        for (int i = 0; i < 16; i++) {
            c[i] = ldpQ(2 * i, 2 * i + 1, 0, 32 * i);
        }
        c[16] = hvc(HVC_MARKER);
        return c;
    }

    /**
     * Loads {@code q} into the vCPU's Q registers. Clobbers PC, X0, CPSR, CPACR_EL1 and
     * SCTLR_EL1, which the caller restores next. Owning thread; no other vCPU may use
     * {@code scratch} meanwhile.
     *
     * @param scratch host view of {@link #SCRATCH_BYTES} of guest RAM at {@code scratchIpa},
     *        16-byte aligned
     */
    static void restore(HvfLayer hv, long vcpu, MemorySegment scratch, long scratchIpa, byte[][] q) {
        if (scratchIpa % 16 != 0 || scratch.byteSize() < SCRATCH_BYTES) {
            throw new IllegalArgumentException("SIMD restore scratch must be 16-byte aligned and "
                    + SCRATCH_BYTES + " bytes");
        }
        byte[] saved = scratch.asSlice(0, SCRATCH_BYTES).toArray(ValueLayout.JAVA_BYTE);
        try {
            int[] code = code();
            for (int i = 0; i < code.length; i++) {
                scratch.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * i, code[i]);
            }
            for (int r = 0; r < 32; r++) {
                MemorySegment.copy(q[r], 0, scratch, ValueLayout.JAVA_BYTE, DATA_OFFSET + 16L * r, 16);
            }
            long sctlr = hv.getSysReg(vcpu, Arm64Regs.SCTLR_EL1);
            hv.setSysReg(vcpu, Arm64Regs.SCTLR_EL1, sctlr & ~(1L | 1L << 2 | 1L << 12));
            hv.setSysReg(vcpu, Arm64Regs.CPACR_EL1, Arm64Regs.CPACR_FPEN);
            hv.setReg(vcpu, Arm64Regs.CPSR, Arm64Regs.CPSR_EL1H_DAIF);
            hv.setReg(vcpu, Arm64Regs.X0, scratchIpa + DATA_OFFSET);
            hv.setReg(vcpu, Arm64Regs.PC, scratchIpa);
            ScheduledFuture<?> kick = WATCHDOG.schedule(() -> hv.vcpusExit(vcpu), 2, TimeUnit.SECONDS);
            HvfLayer.Exit exit;
            try {
                exit = hv.vcpuRun(vcpu);
            } finally {
                kick.cancel(false);
            }
            if (exit.reason() != HvfLayer.EXIT_EXCEPTION || Esr.ec(exit.syndrome()) != Esr.EC_HVC64
                    || Esr.hvcImmediate(exit.syndrome()) != HVC_MARKER) {
                throw new IllegalStateException(String.format(
                        "restoring SIMD registers: the register-load stub did not finish (exit reason %d, "
                                + "ESR 0x%x, IPA 0x%x)", exit.reason(), exit.syndrome(), exit.physicalAddress()));
            }
        } finally {
            MemorySegment.copy(saved, 0, scratch, ValueLayout.JAVA_BYTE, 0, saved.length);
        }
    }
}
