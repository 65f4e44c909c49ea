package dev.ignition.kvm.internal;

/**
 * KVM ioctl request numbers for x86_64 (include/uapi/linux/kvm.h; verified against the kernel's
 * UAPI headers, see the struct tests), and the exit reasons and capabilities used.
 */
enum KvmIoctl {
    GET_API_VERSION(0xAE00L),
    CREATE_VM(0xAE01L),
    GET_MSR_INDEX_LIST(0xC004AE02L),
    CHECK_EXTENSION(0xAE03L),
    GET_VCPU_MMAP_SIZE(0xAE04L),
    GET_SUPPORTED_CPUID(0xC008AE05L),
    CREATE_VCPU(0xAE41L),
    GET_DIRTY_LOG(0x4010AE42L),
    SET_USER_MEMORY_REGION(0x4020AE46L),
    SET_TSS_ADDR(0xAE47L),
    SET_IDENTITY_MAP_ADDR(0x4008AE48L),
    CREATE_IRQCHIP(0xAE60L),
    IRQ_LINE(0x4008AE61L),
    GET_IRQCHIP(0xC208AE62L),
    SET_IRQCHIP(0x8208AE63L),
    IRQFD(0x4020AE76L),
    CREATE_PIT2(0x4040AE77L),
    SET_CLOCK(0x4030AE7BL),
    GET_CLOCK(0x8030AE7CL),
    RUN(0xAE80L),
    GET_REGS(0x8090AE81L),
    SET_REGS(0x4090AE82L),
    GET_SREGS(0x8138AE83L),
    SET_SREGS(0x4138AE84L),
    GET_MSRS(0xC008AE88L),
    SET_MSRS(0x4008AE89L),
    SET_SIGNAL_MASK(0x4004AE8BL),
    GET_FPU(0x81A0AE8CL),
    SET_FPU(0x41A0AE8DL),
    GET_LAPIC(0x8400AE8EL),
    SET_LAPIC(0x4400AE8FL),
    SET_CPUID2(0x4008AE90L),
    GET_CPUID2(0xC008AE91L),
    GET_MP_STATE(0x8004AE98L),
    SET_MP_STATE(0x4004AE99L),
    GET_PIT2(0x8070AE9FL),
    SET_PIT2(0x4070AEA0L),
    GET_VCPU_EVENTS(0x8040AE9FL),
    SET_VCPU_EVENTS(0x4040AEA0L),
    GET_DEBUGREGS(0x8080AEA1L),
    SET_DEBUGREGS(0x4080AEA2L),
    GET_TSC_KHZ(0xAEA3L),
    SET_TSC_KHZ(0xAEA2L),
    ENABLE_CAP(0x4068AEA3L),
    GET_XSAVE(0x9000AEA4L),
    SET_XSAVE(0x5000AEA5L),
    GET_XCRS(0x8188AEA6L),
    SET_XCRS(0x4188AEA7L),
    KVMCLOCK_CTRL(0xAEADL),
    CLEAR_DIRTY_LOG(0xC018AEC0L),
    GET_XSAVE2(0x9000AECFL);

    final long request;

    KvmIoctl(long request) {
        this.request = request;
    }

    /** The name as in the kernel headers, for error messages. */
    String kernelName() {
        return "KVM_" + name();
    }

    static final int API_VERSION = 12;

    // Exit reasons.
    static final int EXIT_UNKNOWN = 0;
    static final int EXIT_EXCEPTION = 1;
    static final int EXIT_IO = 2;
    static final int EXIT_HLT = 5;
    static final int EXIT_MMIO = 6;
    static final int EXIT_SHUTDOWN = 8;
    static final int EXIT_FAIL_ENTRY = 9;
    static final int EXIT_INTR = 10;
    static final int EXIT_INTERNAL_ERROR = 17;
    static final int EXIT_SYSTEM_EVENT = 24;

    static final int SYSTEM_EVENT_SHUTDOWN = 1;
    static final int SYSTEM_EVENT_RESET = 2;

    // Capabilities.
    static final int CAP_IRQCHIP = 0;
    static final int CAP_USER_MEMORY = 3;
    static final int CAP_SET_TSS_ADDR = 4;
    static final int CAP_IRQFD = 32;
    static final int CAP_PIT2 = 33;
    static final int CAP_IMMEDIATE_EXIT = 136;
    static final int CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168;
    static final int CAP_XSAVE2 = 208;
    static final int CAP_TSC_CONTROL = 60;

    static final int MEM_LOG_DIRTY_PAGES = 1;
    static final int PIT_SPEAKER_DUMMY = 1;
    static final int IRQFD_FLAG_DEASSIGN = 1;
}
