package dev.ignition.hvf.internal;

import static dev.ignition.hvf.internal.HvfNative.check;
import static dev.ignition.hvf.internal.HvfNative.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.ignition.hvf.internal.HvfNative.Symbols;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/** {@link HvfLayer} over the real framework through {@link HvfNative}. */
public final class NativeHvfLayer implements HvfLayer {
    /** Per-thread out-parameter buffer: 16-byte aligned (SIMD values), room for a few values. */
    private static final ThreadLocal<MemorySegment> SCRATCH =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(64, 16));

    private final Map<Long, MemorySegment> exits = new ConcurrentHashMap<>();
    private final String javaExecutable;
    private volatile long timebaseNumer;
    private volatile long timebaseDenom;

    /** @param javaExecutable the process's executable, named in the entitlement error */
    public NativeHvfLayer(String javaExecutable) {
        this.javaExecutable = javaExecutable;
    }

    private static MemorySegment scratch() {
        return SCRATCH.get();
    }

    private static MethodHandle need(@Nullable MethodHandle mh, String name) {
        if (mh == null) {
            throw new UnsupportedOperationException(name + " is not in this Hypervisor.framework (needs a newer macOS)");
        }
        return mh;
    }

    @Override
    public int maxIpaBits() {
        try {
            MemorySegment s = scratch();
            check("hv_vm_config_get_max_ipa_size",
                    (int) need(Symbols.VM_CONFIG_GET_MAX_IPA_SIZE, "hv_vm_config_get_max_ipa_size").invokeExact(s));
            return s.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public int defaultIpaBits() {
        try {
            MemorySegment s = scratch();
            check("hv_vm_config_get_default_ipa_size", (int) need(Symbols.VM_CONFIG_GET_DEFAULT_IPA_SIZE,
                    "hv_vm_config_get_default_ipa_size").invokeExact(s));
            return s.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void vmCreate(int ipaBits) {
        try {
            MemorySegment config = MemorySegment.NULL;
            if (ipaBits != 0) {
                config = (MemorySegment) need(Symbols.VM_CONFIG_CREATE, "hv_vm_config_create").invokeExact();
                if (config.equals(MemorySegment.NULL)) {
                    throw new HvfCallException("hv_vm_config_create", HvReturn.HV_NO_RESOURCES.code());
                }
            }
            try {
                if (ipaBits != 0) {
                    check("hv_vm_config_set_ipa_size(" + ipaBits + ")", (int) need(Symbols.VM_CONFIG_SET_IPA_SIZE,
                            "hv_vm_config_set_ipa_size").invokeExact(config, ipaBits));
                }
                int rc = (int) Symbols.VM_CREATE.invokeExact(config);
                if (rc == HvReturn.HV_DENIED.code() || rc == HvReturn.HV_UNSUPPORTED.code()) {
                    throw new HvfEntitlementException("hv_vm_create", rc, javaExecutable);
                }
                if (rc == HvReturn.HV_BUSY.code()) {
                    throw new HvfCallException("hv_vm_create", rc,
                            "Hypervisor.framework allows one VM per process and one already exists");
                }
                check("hv_vm_create", rc);
            } finally {
                if (!config.equals(MemorySegment.NULL)) {
                    Symbols.OS_RELEASE.invokeExact(config);
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void vmDestroy() {
        try {
            check("hv_vm_destroy", (int) Symbols.VM_DESTROY.invokeExact());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public int maxVcpuCount() {
        try {
            MemorySegment s = scratch();
            check("hv_vm_get_max_vcpu_count", (int) Symbols.VM_GET_MAX_VCPU_COUNT.invokeExact(s));
            return s.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void vmMap(MemorySegment host, long ipa, long size, long flags) {
        try {
            check("hv_vm_map(ipa=0x" + Long.toHexString(ipa) + ", size=0x" + Long.toHexString(size) + ")",
                    (int) Symbols.VM_MAP_H.invokeExact(host, ipa, size, flags));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void vmUnmap(long ipa, long size) {
        try {
            check("hv_vm_unmap(ipa=0x" + Long.toHexString(ipa) + ")", (int) Symbols.VM_UNMAP.invokeExact(ipa, size));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void vmProtect(long ipa, long size, long flags) {
        try {
            int rc = (int) Symbols.VM_PROTECT_H.invokeExact(ipa, size, flags);
            if (rc != 0) {
                throw new HvfCallException("hv_vm_protect(ipa=0x" + Long.toHexString(ipa) + ", size=0x"
                        + Long.toHexString(size) + ", flags=" + flags + ")", rc);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public GicParams gicParams() {
        return new GicParams(
                sizeParam(Symbols.GIC_GET_DISTRIBUTOR_SIZE, "hv_gic_get_distributor_size"),
                sizeParam(Symbols.GIC_GET_DISTRIBUTOR_BASE_ALIGNMENT, "hv_gic_get_distributor_base_alignment"),
                sizeParam(Symbols.GIC_GET_REDISTRIBUTOR_REGION_SIZE, "hv_gic_get_redistributor_region_size"),
                sizeParam(Symbols.GIC_GET_REDISTRIBUTOR_SIZE, "hv_gic_get_redistributor_size"),
                sizeParam(Symbols.GIC_GET_REDISTRIBUTOR_BASE_ALIGNMENT, "hv_gic_get_redistributor_base_alignment"),
                spiRange(0), spiRange(1), intid(27), intid(30));
    }

    private static long sizeParam(@Nullable MethodHandle mh, String name) {
        try {
            MemorySegment s = scratch();
            check(name, (int) need(mh, name).invokeExact(s));
            return s.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static int spiRange(int which) {
        try {
            MemorySegment s = scratch();
            check("hv_gic_get_spi_interrupt_range", (int) need(Symbols.GIC_GET_SPI_INTERRUPT_RANGE,
                    "hv_gic_get_spi_interrupt_range").invokeExact(s, s.asSlice(4)));
            return s.get(JAVA_INT, 4L * which);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static int intid(int hvGicIntid) {
        try {
            MemorySegment s = scratch();
            check("hv_gic_get_intid(" + hvGicIntid + ")",
                    (int) need(Symbols.GIC_GET_INTID, "hv_gic_get_intid").invokeExact(hvGicIntid, s));
            return s.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void gicCreate(long distributorBase, long redistributorBase) {
        try {
            MemorySegment config = (MemorySegment) need(Symbols.GIC_CONFIG_CREATE, "hv_gic_config_create").invokeExact();
            if (config.equals(MemorySegment.NULL)) {
                throw new HvfCallException("hv_gic_config_create", HvReturn.HV_NO_RESOURCES.code());
            }
            try {
                check("hv_gic_config_set_distributor_base(0x" + Long.toHexString(distributorBase) + ")",
                        (int) need(Symbols.GIC_CONFIG_SET_DISTRIBUTOR_BASE, "hv_gic_config_set_distributor_base")
                                .invokeExact(config, distributorBase));
                check("hv_gic_config_set_redistributor_base(0x" + Long.toHexString(redistributorBase) + ")",
                        (int) need(Symbols.GIC_CONFIG_SET_REDISTRIBUTOR_BASE, "hv_gic_config_set_redistributor_base")
                                .invokeExact(config, redistributorBase));
                check("hv_gic_create", (int) need(Symbols.GIC_CREATE, "hv_gic_create").invokeExact(config));
            } finally {
                Symbols.OS_RELEASE.invokeExact(config);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void gicSetSpi(int intid, boolean level) {
        try {
            int rc = (int) need(Symbols.GIC_SET_SPI, "hv_gic_set_spi").invokeExact(intid, level);
            if (rc != 0) {
                throw new HvfCallException("hv_gic_set_spi(" + intid + ", " + level + ")", rc);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public long gicRedistributorBase(long vcpu) {
        try {
            MemorySegment s = scratch();
            check("hv_gic_get_redistributor_base", (int) need(Symbols.GIC_GET_REDISTRIBUTOR_BASE,
                    "hv_gic_get_redistributor_base").invokeExact(vcpu, s));
            return s.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public long gicGetIccReg(long vcpu, int reg) {
        try {
            MemorySegment s = scratch();
            check("hv_gic_get_icc_reg(0x" + Integer.toHexString(reg) + ")",
                    (int) need(Symbols.GIC_GET_ICC_REG, "hv_gic_get_icc_reg").invokeExact(vcpu, reg & 0xffff, s));
            return s.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void gicSetIccReg(long vcpu, int reg, long value) {
        try {
            check("hv_gic_set_icc_reg(0x" + Integer.toHexString(reg) + ")",
                    (int) need(Symbols.GIC_SET_ICC_REG, "hv_gic_set_icc_reg").invokeExact(vcpu, reg & 0xffff, value));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public long gicGetDistributorReg(int reg) {
        try {
            MemorySegment s = scratch();
            check("hv_gic_get_distributor_reg(0x" + Integer.toHexString(reg) + ")", (int) need(
                    Symbols.GIC_GET_DISTRIBUTOR_REG, "hv_gic_get_distributor_reg").invokeExact(reg & 0xffff, s));
            return s.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void gicSetDistributorReg(int reg, long value) {
        try {
            check("hv_gic_set_distributor_reg(0x" + Integer.toHexString(reg) + ")", (int) need(
                    Symbols.GIC_SET_DISTRIBUTOR_REG, "hv_gic_set_distributor_reg").invokeExact(reg & 0xffff, value));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public long gicGetRedistributorReg(long vcpu, int reg) {
        try {
            MemorySegment s = scratch();
            check("hv_gic_get_redistributor_reg(0x" + Integer.toHexString(reg) + ")", (int) need(
                    Symbols.GIC_GET_REDISTRIBUTOR_REG, "hv_gic_get_redistributor_reg").invokeExact(vcpu, reg, s));
            return s.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void gicSetRedistributorReg(long vcpu, int reg, long value) {
        try {
            check("hv_gic_set_redistributor_reg(0x" + Integer.toHexString(reg) + ")", (int) need(
                    Symbols.GIC_SET_REDISTRIBUTOR_REG, "hv_gic_set_redistributor_reg").invokeExact(vcpu, reg, value));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public byte[] gicGetState() {
        try {
            MemorySegment state = (MemorySegment) need(Symbols.GIC_STATE_CREATE, "hv_gic_state_create").invokeExact();
            if (state.equals(MemorySegment.NULL)) {
                throw new HvfCallException("hv_gic_state_create", HvReturn.HV_ERROR.code(),
                        "the framework returned no state object; every vCPU must be stopped");
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment size = arena.allocate(JAVA_LONG);
                check("hv_gic_state_get_size", (int) need(Symbols.GIC_STATE_GET_SIZE, "hv_gic_state_get_size")
                        .invokeExact(state, size));
                long n = size.get(JAVA_LONG, 0);
                if (n <= 0 || n > (64L << 20)) {
                    throw new HvfCallException("hv_gic_state_get_size", HvReturn.HV_ERROR.code(),
                            "implausible GIC state size " + n);
                }
                MemorySegment data = arena.allocate(n, 16);
                check("hv_gic_state_get_data", (int) need(Symbols.GIC_STATE_GET_DATA, "hv_gic_state_get_data")
                        .invokeExact(state, data));
                return data.toArray(JAVA_BYTE);
            } finally {
                Symbols.OS_RELEASE.invokeExact(state);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void gicSetState(byte[] state) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(state.length, 16);
            MemorySegment.copy(state, 0, data, JAVA_BYTE, 0, state.length);
            int rc = (int) need(Symbols.GIC_SET_STATE, "hv_gic_set_state").invokeExact(data, (long) state.length);
            if (rc != 0) {
                throw new HvfCallException("hv_gic_set_state", rc,
                        "the snapshot's GIC state was refused; a macOS update can change its format");
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public long vcpuCreate() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment id = arena.allocate(JAVA_LONG);
            MemorySegment exitPtr = arena.allocate(ADDRESS);
            check("hv_vcpu_create", (int) Symbols.VCPU_CREATE_H.invokeExact(id, exitPtr, MemorySegment.NULL));
            long vcpu = id.get(JAVA_LONG, 0);
            // The framework owns the exit record; it stays valid until hv_vcpu_destroy.
            exits.put(vcpu, exitPtr.get(ADDRESS, 0).reinterpret(HvfNative.EXIT_LAYOUT.byteSize()));
            return vcpu;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void vcpuDestroy(long vcpu) {
        try {
            check("hv_vcpu_destroy", (int) Symbols.VCPU_DESTROY.invokeExact(vcpu));
            exits.remove(vcpu);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public Exit vcpuRun(long vcpu) {
        try {
            check("hv_vcpu_run", (int) Symbols.VCPU_RUN.invokeExact(vcpu));
            MemorySegment e = exits.get(vcpu);
            if (e == null) {
                throw new IllegalStateException("vCPU " + vcpu + " has no exit record");
            }
            return new Exit((int) HvfNative.EXIT_REASON.get(e, 0L), (long) HvfNative.EXIT_SYNDROME.get(e, 0L),
                    (long) HvfNative.EXIT_VA.get(e, 0L), (long) HvfNative.EXIT_PA.get(e, 0L));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void vcpusExit(long... vcpus) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ids = arena.allocateFrom(JAVA_LONG, vcpus);
            check("hv_vcpus_exit", (int) Symbols.VCPUS_EXIT.invokeExact(ids, vcpus.length));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public long getReg(long vcpu, int reg) {
        try {
            MemorySegment s = scratch();
            check("hv_vcpu_get_reg(" + reg + ")", (int) Symbols.VCPU_GET_REG.invokeExact(vcpu, reg, s));
            return s.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void setReg(long vcpu, int reg, long value) {
        try {
            check("hv_vcpu_set_reg(" + reg + ")", (int) Symbols.VCPU_SET_REG.invokeExact(vcpu, reg, value));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public long getSysReg(long vcpu, int reg) {
        try {
            MemorySegment s = scratch();
            int rc = (int) Symbols.VCPU_GET_SYS_REG.invokeExact(vcpu, reg & 0xffff, s);
            if (rc != 0) {
                throw new HvfCallException("hv_vcpu_get_sys_reg(0x" + Integer.toHexString(reg) + ")", rc);
            }
            return s.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void setSysReg(long vcpu, int reg, long value) {
        try {
            int rc = (int) Symbols.VCPU_SET_SYS_REG.invokeExact(vcpu, reg & 0xffff, value);
            if (rc != 0) {
                throw new HvfCallException("hv_vcpu_set_sys_reg(0x" + Integer.toHexString(reg) + ")", rc);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public byte[] getSimdFp(long vcpu, int reg) {
        try {
            MemorySegment s = scratch();
            check("hv_vcpu_get_simd_fp_reg(Q" + reg + ")", (int) Symbols.VCPU_GET_SIMD_FP_REG.invokeExact(vcpu, reg, s));
            return s.asSlice(0, 16).toArray(JAVA_BYTE);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public long getVtimerOffset(long vcpu) {
        try {
            MemorySegment s = scratch();
            check("hv_vcpu_get_vtimer_offset", (int) Symbols.VCPU_GET_VTIMER_OFFSET.invokeExact(vcpu, s));
            return s.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void setVtimerOffset(long vcpu, long offset) {
        try {
            check("hv_vcpu_set_vtimer_offset", (int) Symbols.VCPU_SET_VTIMER_OFFSET.invokeExact(vcpu, offset));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public void setVtimerMask(long vcpu, boolean masked) {
        try {
            check("hv_vcpu_set_vtimer_mask", (int) Symbols.VCPU_SET_VTIMER_MASK.invokeExact(vcpu, masked));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public long machAbsoluteTime() {
        try {
            return (long) Symbols.MACH_ABSOLUTE_TIME.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public long ticksToNanos(long ticks) {
        if (timebaseDenom == 0) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment tb = arena.allocate(HvfNative.TIMEBASE_LAYOUT);
                int rc = (int) Symbols.MACH_TIMEBASE_INFO.invokeExact(tb);
                if (rc != 0) {
                    throw new IllegalStateException("mach_timebase_info failed: kern_return_t " + rc);
                }
                timebaseNumer = Integer.toUnsignedLong(tb.get(JAVA_INT, 0));
                timebaseDenom = Integer.toUnsignedLong(tb.get(JAVA_INT, 4));
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }
        try {
            return Math.multiplyExact(ticks, timebaseNumer) / timebaseDenom;
        } catch (ArithmeticException overflow) {
            return (long) ((double) ticks * timebaseNumer / timebaseDenom);
        }
    }
}
