package dev.ignition.hvf.internal;

import dev.ignition.IgnitionException;
import java.io.Serial;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The backend's snapshot blobs: a versioned little-endian encoding of one vCPU's state and of
 * the VM-wide state (guest counter and GIC). They are untrusted on the way in: every count and
 * register number is checked before anything is applied.
 */
public final class HvfState {
    static final long VCPU_MAGIC = 0x3156_4643_5646_4849L; // "IHVFCPV1" little-endian
    static final long VM_MAGIC = 0x314d_5646_4856_4749L;   // "IGVHFVM1" little-endian
    static final int VERSION = 1;
    static final int MAX_GIC_STATE = 64 << 20;

    private HvfState() {}

    /** A snapshot blob is malformed or from an incompatible backend. */
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
            sysRegs = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(sysRegs));
            iccRegs = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(iccRegs));
            redistributor = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(redistributor));
        }

        public byte[] encode() {
            ByteBuffer b = ByteBuffer.allocate(8 + 4 + 35 * 8 + 4 + sysRegs.size() * 12 + 512 + 4
                    + iccRegs.size() * 12 + 4 + redistributor.size() * 12 + 4 + 16).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(VCPU_MAGIC).putInt(VERSION);
            for (long v : x) {
                b.putLong(v);
            }
            b.putLong(pc).putLong(cpsr).putLong(fpcr).putLong(fpsr);
            putMap(b, sysRegs);
            for (byte[] r : q) {
                b.put(r);
            }
            putMap(b, iccRegs);
            putMap(b, redistributor);
            b.putInt(power.ordinal()).putLong(pendingEntry).putLong(pendingContext);
            return b.array();
        }

        public static Vcpu decode(byte[] blob) {
            try {
                ByteBuffer b = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN);
                if (b.getLong() != VCPU_MAGIC) {
                    throw new InvalidStateException("not an hvf vCPU state blob (bad magic)");
                }
                int version = b.getInt();
                if (version != VERSION) {
                    throw new InvalidStateException("hvf vCPU state version " + version + ", this build reads " + VERSION);
                }
                long[] x = new long[31];
                for (int i = 0; i < 31; i++) {
                    x[i] = b.getLong();
                }
                long pc = b.getLong();
                long cpsr = b.getLong();
                long fpcr = b.getLong();
                long fpsr = b.getLong();
                Map<Integer, Long> sys = getMap(b, Arm64Regs.SNAPSHOT_SYS_REGS.size(), "system");
                for (int id : sys.keySet()) {
                    if (Arm64Regs.byId(id) == null) {
                        throw new InvalidStateException("vCPU state names unknown system register 0x"
                                + Integer.toHexString(id));
                    }
                }
                byte[][] q = new byte[32][16];
                for (byte[] r : q) {
                    b.get(r);
                }
                Map<Integer, Long> icc = getMap(b, Arm64Regs.SNAPSHOT_ICC_REGS.size(), "ICC");
                for (int id : icc.keySet()) {
                    if (Arm64Regs.SNAPSHOT_ICC_REGS.stream().noneMatch(r -> r.id() == id)) {
                        throw new InvalidStateException("vCPU state names unknown ICC register 0x"
                                + Integer.toHexString(id));
                    }
                }
                Map<Integer, Long> redist = getMap(b, GicRegs.REDISTRIBUTOR.size(), "redistributor");
                for (int id : redist.keySet()) {
                    if (!GicRegs.REDISTRIBUTOR.contains(id)) {
                        throw new InvalidStateException("vCPU state names unknown redistributor register 0x"
                                + Integer.toHexString(id));
                    }
                }
                int p = b.getInt();
                if (p < 0 || p >= Power.values().length) {
                    throw new InvalidStateException("vCPU state has invalid power state " + p);
                }
                long entry = b.getLong();
                long ctx = b.getLong();
                if (b.hasRemaining()) {
                    throw new InvalidStateException("vCPU state has " + b.remaining() + " trailing bytes");
                }
                return new Vcpu(x, pc, cpsr, fpcr, fpsr, sys, q, icc, redist, Power.values()[p], entry, ctx);
            } catch (BufferUnderflowException e) {
                throw new InvalidStateException("vCPU state blob truncated (" + blob.length + " bytes)");
            }
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
            distributor = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(distributor));
        }

        public byte[] encode() {
            ByteBuffer b = ByteBuffer.allocate(8 + 4 + 8 + 4 + 4 + gic.length + 4 + 12 * distributor.size())
                    .order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(VM_MAGIC).putInt(VERSION).putLong(guestCounter).putInt(vcpus).putInt(gic.length).put(gic);
            putMap(b, distributor);
            return b.array();
        }

        public static Vm decode(byte[] blob) {
            try {
                ByteBuffer b = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN);
                if (b.getLong() != VM_MAGIC) {
                    throw new InvalidStateException("not an hvf VM state blob (bad magic)");
                }
                int version = b.getInt();
                if (version != VERSION) {
                    throw new InvalidStateException("hvf VM state version " + version + ", this build reads " + VERSION);
                }
                long counter = b.getLong();
                int vcpus = b.getInt();
                int n = b.getInt();
                if (vcpus < 1 || n < 0 || n > MAX_GIC_STATE || n > b.remaining()) {
                    throw new InvalidStateException("hvf VM state has implausible sizes (vcpus " + vcpus
                            + ", GIC state " + n + " bytes, " + b.remaining() + " bytes left)");
                }
                byte[] gic = new byte[n];
                b.get(gic);
                Map<Integer, Long> dist = getMap(b, GicRegs.DISTRIBUTOR.size(), "distributor");
                for (int id : dist.keySet()) {
                    if (!GicRegs.DISTRIBUTOR.contains(id)) {
                        throw new InvalidStateException("VM state names unknown distributor register 0x"
                                + Integer.toHexString(id));
                    }
                }
                if (b.hasRemaining()) {
                    throw new InvalidStateException("VM state has " + b.remaining() + " trailing bytes");
                }
                return new Vm(counter, vcpus, gic, dist);
            } catch (BufferUnderflowException e) {
                throw new InvalidStateException("VM state blob truncated (" + blob.length + " bytes)");
            }
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

    private static void putMap(ByteBuffer b, Map<Integer, Long> m) {
        b.putInt(m.size());
        m.forEach((k, v) -> b.putInt(k).putLong(v));
    }

    private static Map<Integer, Long> getMap(ByteBuffer b, int max, String what) {
        int n = b.getInt();
        if (n < 0 || n > max) {
            throw new InvalidStateException("state lists " + n + " " + what + " registers, at most " + max
                    + " exist");
        }
        Map<Integer, Long> m = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            int id = b.getInt();
            long v = b.getLong();
            if (m.put(id, v) != null) {
                throw new InvalidStateException("state lists " + what + " register 0x"
                        + Integer.toHexString(id) + " twice");
            }
        }
        return m;
    }
}
