package dev.ignition.hvf.internal;

import dev.ignition.IgnitionException;
import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.StateReader;
import dev.ignition.internal.state.StateWriter;
import java.io.Serial;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The backend's snapshot blobs, in the one snapshot-state encoding ({@link StateWriter}): one
 * vCPU's state (record {@code HVCP}) and the VM-wide state (record {@code HVVM}: guest counter and
 * GIC). They are untrusted on the way in: decoding checks every count and register number before
 * anything is applied and fails with a {@link CorruptStateException} naming the record and field.
 */
public final class HvfState {
    static final String VCPU_TAG = "HVCP";
    static final String VM_TAG = "HVVM";
    static final int VERSION = 1;
    static final int MAX_GIC_STATE = 64 << 20;

    private HvfState() {}

    /** A well-formed snapshot blob does not fit this VM (vCPU count, MPIDR, registers the framework refuses). */
    public static final class InvalidStateException extends IgnitionException {
        @Serial private static final long serialVersionUID = 1L;

        public InvalidStateException(String message) {
            super(message);
        }
    }

    /** PSCI power state of a vCPU. */
    public enum Power { ON, OFF, ON_PENDING }

    /**
     * One vCPU.
     *
     * @param x X0..X30
     * @param pc program counter
     * @param cpsr PSTATE as CPSR
     * @param fpcr FP control
     * @param fpsr FP status
     * @param sysRegs {@code hv_sys_reg_t} → value, in capture order
     * @param q Q0..Q31, 16 bytes each
     * @param iccRegs {@code hv_gic_icc_reg_t} → value
     * @param redistributor GICR register offset → value (register-level GIC path; may be empty)
     * @param power PSCI power state
     * @param pendingEntry CPU_ON entry when {@code power} is ON_PENDING
     * @param pendingContext CPU_ON context id when ON_PENDING
     */
    public record Vcpu(long[] x, long pc, long cpsr, long fpcr, long fpsr, Map<Integer, Long> sysRegs,
                       byte[][] q, Map<Integer, Long> iccRegs, Map<Integer, Long> redistributor, Power power,
                       long pendingEntry, long pendingContext) {
        public Vcpu {
            if (x.length != 31 || q.length != 32) {
                throw new IllegalArgumentException("need 31 X and 32 Q registers");
            }
            for (byte[] b : q) {
                if (b.length != 16) {
                    throw new IllegalArgumentException("Q registers are 16 bytes");
                }
            }
            sysRegs = Collections.unmodifiableMap(new LinkedHashMap<>(sysRegs));
            iccRegs = Collections.unmodifiableMap(new LinkedHashMap<>(iccRegs));
            redistributor = Collections.unmodifiableMap(new LinkedHashMap<>(redistributor));
        }

        public byte[] encode() {
            StateWriter w = new StateWriter(1024 + 12 * (sysRegs.size() + iccRegs.size() + redistributor.size()))
                    .begin(VCPU_TAG, VERSION).longs(x).u64(pc).u64(cpsr).u64(fpcr).u64(fpsr);
            putMap(w, sysRegs);
            byte[] qs = new byte[32 * 16];
            for (int i = 0; i < 32; i++) {
                System.arraycopy(q[i], 0, qs, 16 * i, 16);
            }
            w.bytes(qs);
            putMap(w, iccRegs);
            putMap(w, redistributor);
            return w.u8(power.ordinal()).u64(pendingEntry).u64(pendingContext).end().toByteArray();
        }

        /** @throws CorruptStateException naming the field that is malformed or names an unknown register */
        public static Vcpu decode(byte[] blob) {
            StateReader r = StateReader.open(blob, "hvf vCPU state", VCPU_TAG, VERSION);
            long[] x = r.longs("x", 31);
            if (x.length != 31) {
                throw r.invalid("x", "holds " + x.length + " registers, X0..X30 are 31");
            }
            long pc = r.u64("pc");
            long cpsr = r.u64("cpsr");
            long fpcr = r.u64("fpcr");
            long fpsr = r.u64("fpsr");
            Map<Integer, Long> sys = getMap(r, "sysRegs", Arm64Regs.SNAPSHOT_SYS_REGS.size());
            for (int id : sys.keySet()) {
                if (Arm64Regs.byId(id) == null) {
                    throw r.invalid("sysRegs", "names unknown system register 0x" + Integer.toHexString(id));
                }
            }
            byte[] qs = r.bytesExactly("q", 32 * 16);
            byte[][] q = new byte[32][];
            for (int i = 0; i < 32; i++) {
                q[i] = Arrays.copyOfRange(qs, 16 * i, 16 * i + 16);
            }
            Map<Integer, Long> icc = getMap(r, "iccRegs", Arm64Regs.SNAPSHOT_ICC_REGS.size());
            for (int id : icc.keySet()) {
                if (Arm64Regs.SNAPSHOT_ICC_REGS.stream().noneMatch(reg -> reg.id() == id)) {
                    throw r.invalid("iccRegs", "names unknown ICC register 0x" + Integer.toHexString(id));
                }
            }
            Map<Integer, Long> redist = getMap(r, "redistributor", GicRegs.REDISTRIBUTOR.size());
            for (int id : redist.keySet()) {
                if (!GicRegs.REDISTRIBUTOR.contains(id)) {
                    throw r.invalid("redistributor", "names unknown redistributor register 0x" + Integer.toHexString(id));
                }
            }
            int p = r.u8("power", Power.values().length - 1);
            long entry = r.u64("pendingEntry");
            long ctx = r.u64("pendingContext");
            r.end();
            return new Vcpu(x, pc, cpsr, fpcr, fpsr, sys, q, icc, redist, Power.values()[p], entry, ctx);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Vcpu v && Arrays.equals(x, v.x) && pc == v.pc && cpsr == v.cpsr && fpcr == v.fpcr
                    && fpsr == v.fpsr && sysRegs.equals(v.sysRegs) && Arrays.deepEquals(q, v.q)
                    && iccRegs.equals(v.iccRegs) && redistributor.equals(v.redistributor) && power == v.power && pendingEntry == v.pendingEntry
                    && pendingContext == v.pendingContext;
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(x) * 31 + Long.hashCode(pc);
        }

        @Override
        public String toString() {
            return "Vcpu[pc=0x" + Long.toHexString(pc) + ", cpsr=0x" + Long.toHexString(cpsr) + ", sysRegs="
                    + sysRegs.size() + ", power=" + power + "]";
        }
    }

    /**
     * The VM-wide part.
     *
     * @param guestCounter CNTVCT at capture ({@code mach_absolute_time - vtimer offset})
     * @param vcpus number of vCPUs the VM had
     * @param gic the framework's serialized GIC (distributor and redistributors)
     * @param distributor GICD register offset → value, for when the framework refuses {@code gic}
     *        (may be empty)
     */
    public record Vm(long guestCounter, int vcpus, byte[] gic, Map<Integer, Long> distributor) {
        public Vm {
            distributor = Collections.unmodifiableMap(new LinkedHashMap<>(distributor));
        }

        public byte[] encode() {
            StateWriter w = new StateWriter(64 + gic.length + 12 * distributor.size()).begin(VM_TAG, VERSION)
                    .u64(guestCounter).u32(vcpus).bytes(gic);
            putMap(w, distributor);
            return w.end().toByteArray();
        }

        /** @throws CorruptStateException naming the field that is malformed or names an unknown register */
        public static Vm decode(byte[] blob) {
            StateReader r = StateReader.open(blob, "hvf VM state", VM_TAG, VERSION);
            long counter = r.u64("guestCounter");
            int vcpus = r.u32("vcpus", 1, Integer.MAX_VALUE);
            byte[] gic = r.bytes("gic", MAX_GIC_STATE);
            Map<Integer, Long> dist = getMap(r, "distributor", GicRegs.DISTRIBUTOR.size());
            for (int id : dist.keySet()) {
                if (!GicRegs.DISTRIBUTOR.contains(id)) {
                    throw r.invalid("distributor", "names unknown distributor register 0x" + Integer.toHexString(id));
                }
            }
            r.end();
            return new Vm(counter, vcpus, gic, dist);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Vm v && guestCounter == v.guestCounter && vcpus == v.vcpus && Arrays.equals(gic, v.gic)
                    && distributor.equals(v.distributor);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(guestCounter) * 31 + Arrays.hashCode(gic);
        }

        @Override
        public String toString() {
            return "Vm[guestCounter=" + guestCounter + ", vcpus=" + vcpus + ", gic=" + gic.length + " bytes]";
        }
    }

    /** A register map as two arrays of the same length: ids, then values (in map order). */
    private static void putMap(StateWriter w, Map<Integer, Long> m) {
        int[] ids = new int[m.size()];
        long[] values = new long[m.size()];
        int i = 0;
        for (Map.Entry<Integer, Long> e : m.entrySet()) {
            ids[i] = e.getKey();
            values[i++] = e.getValue();
        }
        w.ints(ids).longs(values);
    }

    private static Map<Integer, Long> getMap(StateReader r, String field, int max) {
        int[] ids = r.ints(field + ".ids", max);
        long[] values = r.longs(field + ".values", max);
        if (values.length != ids.length) {
            throw r.invalid(field, ids.length + " register ids but " + values.length + " values");
        }
        Map<Integer, Long> m = new LinkedHashMap<>();
        for (int i = 0; i < ids.length; i++) {
            if (m.put(ids[i], values[i]) != null) {
                throw r.invalid(field, "lists register 0x" + Integer.toHexString(ids[i]) + " twice");
            }
        }
        return m;
    }
}
