package dev.ignition.hvf.internal;

import java.lang.foreign.MemorySegment;

/**
 * The Hypervisor.framework calls the backend makes, one method per C function (or a fixed
 * sequence of them), so that everything above can run against a scripted fake in unit tests.
 * {@link NativeHvfLayer} is the real implementation. Failures throw {@link HvfCallException}.
 *
 * <p>Thread rules are the framework's: vCPU methods on the vCPU's owning thread, except
 * {@link #vcpusExit}.
 */
public interface HvfLayer {
    /** {@code hv_memory_flags_t} bits. */
    long MEMORY_READ = 1L;
    long MEMORY_WRITE = 1L << 1;
    long MEMORY_EXEC = 1L << 2;

    /** {@code hv_exit_reason_t}. */
    int EXIT_CANCELED = 0;
    int EXIT_EXCEPTION = 1;
    int EXIT_VTIMER_ACTIVATED = 2;
    int EXIT_UNKNOWN = 3;

    /**
     * What {@code hv_vcpu_run} left in the vCPU's {@code hv_vcpu_exit_t}.
     *
     * @param reason an {@code EXIT_*} value
     * @param syndrome ESR_EL2 of an exception exit
     * @param virtualAddress FAR
     * @param physicalAddress the faulting IPA
     */
    record Exit(int reason, long syndrome, long virtualAddress, long physicalAddress) {}

    /**
     * The in-framework GIC's parameters ({@code hv_gic_get_*}).
     *
     * @param distributorSize bytes of the distributor
     * @param distributorAlignment required base alignment
     * @param redistributorRegionSize bytes of the whole redistributor region
     * @param redistributorSize bytes per vCPU
     * @param redistributorAlignment required base alignment
     * @param spiBase first SPI INTID
     * @param spiCount number of SPI INTIDs
     * @param virtualTimerIntid INTID of the EL1 virtual timer (27)
     * @param physicalTimerIntid INTID of the EL1 physical timer (30)
     */
    record GicParams(long distributorSize, long distributorAlignment, long redistributorRegionSize,
                     long redistributorSize, long redistributorAlignment, int spiBase, int spiCount,
                     int virtualTimerIntid, int physicalTimerIntid) {}

    // --- VM -------------------------------------------------------------------------------

    /** {@code hv_vm_config_get_max_ipa_size}. */
    int maxIpaBits();

    /** {@code hv_vm_config_get_default_ipa_size}. */
    int defaultIpaBits();

    /**
     * {@code hv_vm_create}: with a config whose IPA size is {@code ipaBits}, or the default
     * configuration (NULL) when {@code ipaBits} is 0.
     */
    void vmCreate(int ipaBits);

    /** {@code hv_vm_destroy}. */
    void vmDestroy();

    /** {@code hv_vm_get_max_vcpu_count}. */
    int maxVcpuCount();

    /** {@code hv_vm_map}. */
    void vmMap(MemorySegment host, long ipa, long size, long flags);

    /** {@code hv_vm_unmap}. */
    void vmUnmap(long ipa, long size);

    /** {@code hv_vm_protect}. */
    void vmProtect(long ipa, long size, long flags);

    // --- GIC (macOS 15+) --------------------------------------------------------------------

    /** The {@code hv_gic_get_*} parameter calls. */
    GicParams gicParams();

    /**
     * {@code hv_gic_config_create}, {@code hv_gic_config_set_distributor_base},
     * {@code hv_gic_config_set_redistributor_base}, {@code hv_gic_create}, {@code os_release}.
     */
    void gicCreate(long distributorBase, long redistributorBase);

    /** {@code hv_gic_set_spi}. */
    void gicSetSpi(int intid, boolean level);

    /** {@code hv_gic_get_redistributor_base} (after the vCPU's MPIDR is set). */
    long gicRedistributorBase(long vcpu);

    /** {@code hv_gic_get_icc_reg} (owning thread). */
    long gicGetIccReg(long vcpu, int reg);

    /** {@code hv_gic_set_icc_reg} (owning thread). */
    void gicSetIccReg(long vcpu, int reg, long value);

    /**
     * {@code hv_gic_state_create}, {@code hv_gic_state_get_size}, {@code hv_gic_state_get_data},
     * {@code os_release}: the serialized distributor and redistributor state. VM stopped.
     */
    byte[] gicGetState();

    /** {@code hv_gic_set_state}: after the GIC and all vCPUs exist, before any vCPU runs. */
    void gicSetState(byte[] state);

    /** {@code hv_gic_get_distributor_reg}; {@code reg} is the GICD register offset. */
    long gicGetDistributorReg(int reg);

    /** {@code hv_gic_set_distributor_reg}. */
    void gicSetDistributorReg(int reg, long value);

    /** {@code hv_gic_get_redistributor_reg} (owning thread); {@code reg} is the GICR offset. */
    long gicGetRedistributorReg(long vcpu, int reg);

    /** {@code hv_gic_set_redistributor_reg} (owning thread). */
    void gicSetRedistributorReg(long vcpu, int reg, long value);

    // --- vCPUs ------------------------------------------------------------------------------

    /** {@code hv_vcpu_create} with the default config; the calling thread becomes the owner. */
    long vcpuCreate();

    /** {@code hv_vcpu_destroy} (owning thread). */
    void vcpuDestroy(long vcpu);

    /** {@code hv_vcpu_run}, then the exit record. Blocks; owning thread. */
    Exit vcpuRun(long vcpu);

    /** {@code hv_vcpus_exit}: any thread. */
    void vcpusExit(long... vcpus);

    /** {@code hv_vcpu_get_reg}. */
    long getReg(long vcpu, int reg);

    /** {@code hv_vcpu_set_reg}. */
    void setReg(long vcpu, int reg, long value);

    /** {@code hv_vcpu_get_sys_reg}; {@code reg} is the zero-extended {@code hv_sys_reg_t}. */
    long getSysReg(long vcpu, int reg);

    /** {@code hv_vcpu_set_sys_reg}. */
    void setSysReg(long vcpu, int reg, long value);

    /**
     * {@code hv_vcpu_get_simd_fp_reg}: the 16 bytes of Q{@code reg}, in memory order (byte 0 is
     * the least significant). There is deliberately no setter: see {@link SimdRestore}.
     */
    byte[] getSimdFp(long vcpu, int reg);

    /** {@code hv_vcpu_get_vtimer_offset}. */
    long getVtimerOffset(long vcpu);

    /** {@code hv_vcpu_set_vtimer_offset}. */
    void setVtimerOffset(long vcpu, long offset);

    /** {@code hv_vcpu_set_vtimer_mask}. */
    void setVtimerMask(long vcpu, boolean masked);

    // --- host clock -------------------------------------------------------------------------

    /** {@code mach_absolute_time()}: the clock the guest's counter is derived from. */
    long machAbsoluteTime();

    /** Converts {@code mach_absolute_time} ticks to nanoseconds ({@code mach_timebase_info}). */
    long ticksToNanos(long ticks);
}
