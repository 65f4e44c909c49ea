package dev.ignition.kvm.internal;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.MemoryLayout.paddingLayout;
import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * KVM UAPI structs (x86_64) as FFM layouts with named fields. Sizes and offsets are checked
 * against the kernel headers' values in {@code KvmStructsTest}.
 */
final class KvmStructs {
    private KvmStructs() {}

    /** The fixed head of {@code struct kvm_run}; the exit union starts at {@link #RUN_EXIT_OFFSET}. */
    static final GroupLayout KVM_RUN_HEAD = structLayout(
            JAVA_BYTE.withName("request_interrupt_window"),
            JAVA_BYTE.withName("immediate_exit"),
            paddingLayout(6),
            JAVA_INT.withName("exit_reason"),
            JAVA_BYTE.withName("ready_for_interrupt_injection"),
            JAVA_BYTE.withName("if_flag"),
            JAVA_SHORT.withName("flags"),
            JAVA_LONG.withName("cr8"),
            JAVA_LONG.withName("apic_base")).withName("kvm_run");
    static final long RUN_EXIT_OFFSET = KVM_RUN_HEAD.byteSize();
    static final VarHandle RUN_IMMEDIATE_EXIT = vh(KVM_RUN_HEAD, "immediate_exit");
    static final VarHandle RUN_EXIT_REASON = vh(KVM_RUN_HEAD, "exit_reason");

    /** {@code kvm_run.io}, at {@link #RUN_EXIT_OFFSET}. */
    static final GroupLayout KVM_RUN_IO = structLayout(
            JAVA_BYTE.withName("direction"),
            JAVA_BYTE.withName("size"),
            JAVA_SHORT.withName("port"),
            JAVA_INT.withName("count"),
            JAVA_LONG.withName("data_offset")).withName("io");
    static final VarHandle IO_DIRECTION = vh(KVM_RUN_IO, "direction");
    static final VarHandle IO_SIZE = vh(KVM_RUN_IO, "size");
    static final VarHandle IO_PORT = vh(KVM_RUN_IO, "port");
    static final VarHandle IO_COUNT = vh(KVM_RUN_IO, "count");
    static final VarHandle IO_DATA_OFFSET = vh(KVM_RUN_IO, "data_offset");
    static final int IO_OUT = 1;

    /** {@code kvm_run.mmio}, at {@link #RUN_EXIT_OFFSET}. */
    static final GroupLayout KVM_RUN_MMIO = structLayout(
            JAVA_LONG.withName("phys_addr"),
            sequenceLayout(8, JAVA_BYTE).withName("data"),
            JAVA_INT.withName("len"),
            JAVA_BYTE.withName("is_write"),
            paddingLayout(3)).withName("mmio");
    static final VarHandle MMIO_PHYS_ADDR = vh(KVM_RUN_MMIO, "phys_addr");
    static final long MMIO_DATA_OFFSET = KVM_RUN_MMIO.byteOffset(groupElement("data"));
    static final VarHandle MMIO_LEN = vh(KVM_RUN_MMIO, "len");
    static final VarHandle MMIO_IS_WRITE = vh(KVM_RUN_MMIO, "is_write");

    /** {@code kvm_run.system_event} and {@code internal} share this shape: a u32 code, u32 count, u64 data[]. */
    static final GroupLayout KVM_RUN_EVENT = structLayout(
            JAVA_INT.withName("type"),
            JAVA_INT.withName("ndata"),
            sequenceLayout(16, JAVA_LONG).withName("data")).withName("system_event");
    static final VarHandle EVENT_TYPE = vh(KVM_RUN_EVENT, "type");
    static final VarHandle EVENT_NDATA = vh(KVM_RUN_EVENT, "ndata");

    static final GroupLayout KVM_REGS = structLayout(
            JAVA_LONG.withName("rax"), JAVA_LONG.withName("rbx"), JAVA_LONG.withName("rcx"),
            JAVA_LONG.withName("rdx"), JAVA_LONG.withName("rsi"), JAVA_LONG.withName("rdi"),
            JAVA_LONG.withName("rsp"), JAVA_LONG.withName("rbp"),
            JAVA_LONG.withName("r8"), JAVA_LONG.withName("r9"), JAVA_LONG.withName("r10"),
            JAVA_LONG.withName("r11"), JAVA_LONG.withName("r12"), JAVA_LONG.withName("r13"),
            JAVA_LONG.withName("r14"), JAVA_LONG.withName("r15"),
            JAVA_LONG.withName("rip"), JAVA_LONG.withName("rflags")).withName("kvm_regs");
    static final VarHandle REGS_RSP = vh(KVM_REGS, "rsp");
    static final VarHandle REGS_RBP = vh(KVM_REGS, "rbp");
    static final VarHandle REGS_RSI = vh(KVM_REGS, "rsi");
    static final VarHandle REGS_RIP = vh(KVM_REGS, "rip");
    static final VarHandle REGS_RFLAGS = vh(KVM_REGS, "rflags");

    static final GroupLayout KVM_SEGMENT = structLayout(
            JAVA_LONG.withName("base"),
            JAVA_INT.withName("limit"),
            JAVA_SHORT.withName("selector"),
            JAVA_BYTE.withName("type"),
            JAVA_BYTE.withName("present"),
            JAVA_BYTE.withName("dpl"),
            JAVA_BYTE.withName("db"),
            JAVA_BYTE.withName("s"),
            JAVA_BYTE.withName("l"),
            JAVA_BYTE.withName("g"),
            JAVA_BYTE.withName("avl"),
            JAVA_BYTE.withName("unusable"),
            JAVA_BYTE.withName("padding")).withName("kvm_segment");

    static final GroupLayout KVM_DTABLE = structLayout(
            JAVA_LONG.withName("base"),
            JAVA_SHORT.withName("limit"),
            sequenceLayout(3, JAVA_SHORT).withName("padding")).withName("kvm_dtable");

    static final GroupLayout KVM_SREGS = structLayout(
            KVM_SEGMENT.withName("cs"), KVM_SEGMENT.withName("ds"), KVM_SEGMENT.withName("es"),
            KVM_SEGMENT.withName("fs"), KVM_SEGMENT.withName("gs"), KVM_SEGMENT.withName("ss"),
            KVM_SEGMENT.withName("tr"), KVM_SEGMENT.withName("ldt"),
            KVM_DTABLE.withName("gdt"), KVM_DTABLE.withName("idt"),
            JAVA_LONG.withName("cr0"), JAVA_LONG.withName("cr2"), JAVA_LONG.withName("cr3"),
            JAVA_LONG.withName("cr4"), JAVA_LONG.withName("cr8"), JAVA_LONG.withName("efer"),
            JAVA_LONG.withName("apic_base"),
            sequenceLayout(4, JAVA_LONG).withName("interrupt_bitmap")).withName("kvm_sregs");

    static final GroupLayout KVM_USERSPACE_MEMORY_REGION = structLayout(
            JAVA_INT.withName("slot"),
            JAVA_INT.withName("flags"),
            JAVA_LONG.withName("guest_phys_addr"),
            JAVA_LONG.withName("memory_size"),
            JAVA_LONG.withName("userspace_addr")).withName("kvm_userspace_memory_region");
    static final VarHandle MEMREGION_SLOT = vh(KVM_USERSPACE_MEMORY_REGION, "slot");
    static final VarHandle MEMREGION_FLAGS = vh(KVM_USERSPACE_MEMORY_REGION, "flags");
    static final VarHandle MEMREGION_GPA = vh(KVM_USERSPACE_MEMORY_REGION, "guest_phys_addr");
    static final VarHandle MEMREGION_SIZE = vh(KVM_USERSPACE_MEMORY_REGION, "memory_size");
    static final VarHandle MEMREGION_UADDR = vh(KVM_USERSPACE_MEMORY_REGION, "userspace_addr");

    static final GroupLayout KVM_CPUID_ENTRY2 = structLayout(
            JAVA_INT.withName("function"),
            JAVA_INT.withName("index"),
            JAVA_INT.withName("flags"),
            JAVA_INT.withName("eax"),
            JAVA_INT.withName("ebx"),
            JAVA_INT.withName("ecx"),
            JAVA_INT.withName("edx"),
            sequenceLayout(3, JAVA_INT).withName("padding")).withName("kvm_cpuid_entry2");
    /** Header of {@code kvm_cpuid2}; entries follow. */
    static final GroupLayout KVM_CPUID2 = structLayout(
            JAVA_INT.withName("nent"),
            JAVA_INT.withName("padding")).withName("kvm_cpuid2");
    static final VarHandle CPUID2_NENT = vh(KVM_CPUID2, "nent");
    static final int MAX_CPUID_ENTRIES = 256;

    static final GroupLayout KVM_MSR_ENTRY = structLayout(
            JAVA_INT.withName("index"),
            JAVA_INT.withName("reserved"),
            JAVA_LONG.withName("data")).withName("kvm_msr_entry");
    /** Header of {@code kvm_msrs}; entries follow. */
    static final GroupLayout KVM_MSRS = structLayout(
            JAVA_INT.withName("nmsrs"),
            JAVA_INT.withName("pad")).withName("kvm_msrs");

    static final GroupLayout KVM_IRQ_LEVEL = structLayout(
            JAVA_INT.withName("irq"),
            JAVA_INT.withName("level")).withName("kvm_irq_level");
    static final VarHandle IRQ_LEVEL_IRQ = vh(KVM_IRQ_LEVEL, "irq");
    static final VarHandle IRQ_LEVEL_LEVEL = vh(KVM_IRQ_LEVEL, "level");

    static final GroupLayout KVM_IRQFD = structLayout(
            JAVA_INT.withName("fd"),
            JAVA_INT.withName("gsi"),
            JAVA_INT.withName("flags"),
            JAVA_INT.withName("resamplefd"),
            sequenceLayout(16, JAVA_BYTE).withName("pad")).withName("kvm_irqfd");
    static final VarHandle IRQFD_FD = vh(KVM_IRQFD, "fd");
    static final VarHandle IRQFD_GSI = vh(KVM_IRQFD, "gsi");
    static final VarHandle IRQFD_FLAGS = vh(KVM_IRQFD, "flags");

    static final GroupLayout KVM_PIT_CONFIG = structLayout(
            JAVA_INT.withName("flags"),
            sequenceLayout(15, JAVA_INT).withName("pad")).withName("kvm_pit_config");
    static final VarHandle PIT_CONFIG_FLAGS = vh(KVM_PIT_CONFIG, "flags");

    static final GroupLayout KVM_DIRTY_LOG = structLayout(
            JAVA_INT.withName("slot"),
            JAVA_INT.withName("padding1"),
            JAVA_LONG.withName("dirty_bitmap")).withName("kvm_dirty_log");
    static final VarHandle DIRTY_LOG_SLOT = vh(KVM_DIRTY_LOG, "slot");
    static final VarHandle DIRTY_LOG_BITMAP = vh(KVM_DIRTY_LOG, "dirty_bitmap");

    static final GroupLayout KVM_FPU = structLayout(
            sequenceLayout(8, sequenceLayout(16, JAVA_BYTE)).withName("fpr"),
            JAVA_SHORT.withName("fcw"),
            JAVA_SHORT.withName("fsw"),
            JAVA_BYTE.withName("ftwx"),
            JAVA_BYTE.withName("pad1"),
            JAVA_SHORT.withName("last_opcode"),
            JAVA_LONG.withName("last_ip"),
            JAVA_LONG.withName("last_dp"),
            sequenceLayout(16, sequenceLayout(16, JAVA_BYTE)).withName("xmm"),
            JAVA_INT.withName("mxcsr"),
            JAVA_INT.withName("pad2")).withName("kvm_fpu");
    static final VarHandle FPU_FCW = vh(KVM_FPU, "fcw");
    static final VarHandle FPU_MXCSR = vh(KVM_FPU, "mxcsr");

    /** {@code kvm_lapic_state}: the 1 KiB APIC register page. */
    static final MemoryLayout KVM_LAPIC_STATE = sequenceLayout(1024, JAVA_BYTE).withName("kvm_lapic_state");
    static final long APIC_LVT0 = 0x350;
    static final long APIC_LVT1 = 0x360;

    /** {@code kvm_signal_mask} with the 8-byte kernel sigset KVM expects. */
    static final GroupLayout KVM_SIGNAL_MASK = structLayout(
            JAVA_INT.withName("len"),
            sequenceLayout(8, JAVA_BYTE).withName("sigset")).withName("kvm_signal_mask");

    static VarHandle vh(GroupLayout layout, String field) {
        return layout.varHandle(groupElement(field));
    }

    /** A native, 8-byte aligned copy of {@code bytes} (a saved struct handed back to an ioctl). */
    static MemorySegment nativeCopy(Arena a, byte[] bytes) {
        MemorySegment m = a.allocate(bytes.length, 8);
        MemorySegment.copy(bytes, 0, m, JAVA_BYTE, 0, bytes.length);
        return m;
    }
}
