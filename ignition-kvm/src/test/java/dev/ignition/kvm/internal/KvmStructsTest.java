package dev.ignition.kvm.internal;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.GroupLayout;
import org.junit.jupiter.api.Test;

/** Layouts and ioctl numbers against the values of the kernel's UAPI headers (Linux 6.1, x86_64). */
class KvmStructsTest {
    private static long off(GroupLayout l, String field) {
        return l.byteOffset(groupElement(field));
    }

    @Test
    void kvmRunExitUnionOffsets() {
        assertThat(KvmStructs.RUN_EXIT_OFFSET).isEqualTo(0x20);
        assertThat(off(KvmStructs.KVM_RUN_HEAD, "immediate_exit")).isEqualTo(0x1);
        assertThat(off(KvmStructs.KVM_RUN_HEAD, "exit_reason")).isEqualTo(0x8);
        assertThat(off(KvmStructs.KVM_RUN_HEAD, "apic_base")).isEqualTo(0x18);
        // kvm_run.io: direction 0x20, size 0x21, port 0x22, count 0x24, data_offset 0x28 (absolute)
        assertThat(0x20 + off(KvmStructs.KVM_RUN_IO, "size")).isEqualTo(0x21);
        assertThat(0x20 + off(KvmStructs.KVM_RUN_IO, "port")).isEqualTo(0x22);
        assertThat(0x20 + off(KvmStructs.KVM_RUN_IO, "count")).isEqualTo(0x24);
        assertThat(0x20 + off(KvmStructs.KVM_RUN_IO, "data_offset")).isEqualTo(0x28);
        // kvm_run.mmio: phys_addr 0x20, data 0x28, len 0x30, is_write 0x34
        assertThat(0x20 + KvmStructs.MMIO_DATA_OFFSET).isEqualTo(0x28);
        assertThat(0x20 + off(KvmStructs.KVM_RUN_MMIO, "len")).isEqualTo(0x30);
        assertThat(0x20 + off(KvmStructs.KVM_RUN_MMIO, "is_write")).isEqualTo(0x34);
        assertThat(KvmStructs.KVM_RUN_EVENT.byteSize()).isEqualTo(8 + 16 * 8);
    }

    @Test
    void registerStructs() {
        assertThat(KvmStructs.KVM_REGS.byteSize()).isEqualTo(144);
        assertThat(off(KvmStructs.KVM_REGS, "rip")).isEqualTo(0x80);
        assertThat(off(KvmStructs.KVM_REGS, "rflags")).isEqualTo(0x88);
        assertThat(KvmStructs.KVM_SEGMENT.byteSize()).isEqualTo(24);
        assertThat(off(KvmStructs.KVM_SEGMENT, "selector")).isEqualTo(0x0c);
        assertThat(off(KvmStructs.KVM_SEGMENT, "unusable")).isEqualTo(0x16);
        assertThat(KvmStructs.KVM_DTABLE.byteSize()).isEqualTo(16);
        assertThat(KvmStructs.KVM_SREGS.byteSize()).isEqualTo(312);
        assertThat(off(KvmStructs.KVM_SREGS, "tr")).isEqualTo(0x90);
        assertThat(off(KvmStructs.KVM_SREGS, "gdt")).isEqualTo(0xc0);
        assertThat(off(KvmStructs.KVM_SREGS, "idt")).isEqualTo(0xd0);
        assertThat(off(KvmStructs.KVM_SREGS, "cr0")).isEqualTo(0xe0);
        assertThat(off(KvmStructs.KVM_SREGS, "cr3")).isEqualTo(0xf0);
        assertThat(off(KvmStructs.KVM_SREGS, "efer")).isEqualTo(0x108);
        assertThat(off(KvmStructs.KVM_SREGS, "apic_base")).isEqualTo(0x110);
        assertThat(off(KvmStructs.KVM_SREGS, "interrupt_bitmap")).isEqualTo(0x118);
        assertThat(KvmStructs.KVM_FPU.byteSize()).isEqualTo(416);
        assertThat(off(KvmStructs.KVM_FPU, "fcw")).isEqualTo(0x80);
        assertThat(off(KvmStructs.KVM_FPU, "last_ip")).isEqualTo(0x88);
        assertThat(off(KvmStructs.KVM_FPU, "xmm")).isEqualTo(0x98);
        assertThat(off(KvmStructs.KVM_FPU, "mxcsr")).isEqualTo(0x198);
        assertThat(KvmStructs.KVM_LAPIC_STATE.byteSize()).isEqualTo(1024);
    }

    @Test
    void memoryCpuidMsrAndIrqStructs() {
        assertThat(KvmStructs.KVM_USERSPACE_MEMORY_REGION.byteSize()).isEqualTo(32);
        assertThat(off(KvmStructs.KVM_USERSPACE_MEMORY_REGION, "guest_phys_addr")).isEqualTo(0x08);
        assertThat(off(KvmStructs.KVM_USERSPACE_MEMORY_REGION, "userspace_addr")).isEqualTo(0x18);
        assertThat(KvmStructs.KVM_CPUID_ENTRY2.byteSize()).isEqualTo(40);
        assertThat(off(KvmStructs.KVM_CPUID_ENTRY2, "ecx")).isEqualTo(0x14);
        assertThat(KvmStructs.KVM_CPUID2.byteSize()).isEqualTo(8);
        assertThat(KvmStructs.KVM_MSR_ENTRY.byteSize()).isEqualTo(16);
        assertThat(off(KvmStructs.KVM_MSR_ENTRY, "data")).isEqualTo(8);
        assertThat(KvmStructs.KVM_IRQ_LEVEL.byteSize()).isEqualTo(8);
        assertThat(KvmStructs.KVM_PIT_CONFIG.byteSize()).isEqualTo(64);
        assertThat(KvmStructs.KVM_DIRTY_LOG.byteSize()).isEqualTo(16);
        // struct kvm_irqfd { __u32 fd, gsi, flags, resamplefd; __u8 pad[16]; }
        assertThat(KvmStructs.KVM_IRQFD.byteSize()).isEqualTo(32);
        assertThat(off(KvmStructs.KVM_IRQFD, "gsi")).isEqualTo(4);
        assertThat(off(KvmStructs.KVM_IRQFD, "flags")).isEqualTo(8);
        assertThat(off(KvmStructs.KVM_IRQFD, "resamplefd")).isEqualTo(12);
        assertThat(off(KvmStructs.KVM_DIRTY_LOG, "dirty_bitmap")).isEqualTo(8);
    }

    /** _IOC(dir, 0xAE, nr, size) as in asm-generic/ioctl.h. */
    private static long ioc(int dir, int nr, long size) {
        return ((long) dir << 30) | (size << 16) | (0xAEL << 8) | nr;
    }

    @Test
    void ioctlNumbersAgreeWithStructSizes() {
        final int w = 1;
        final int r = 2;
        final int rw = 3;
        assertThat(KvmIoctl.GET_REGS.request).isEqualTo(ioc(r, 0x81, KvmStructs.KVM_REGS.byteSize()));
        assertThat(KvmIoctl.SET_REGS.request).isEqualTo(ioc(w, 0x82, KvmStructs.KVM_REGS.byteSize()));
        assertThat(KvmIoctl.GET_SREGS.request).isEqualTo(ioc(r, 0x83, KvmStructs.KVM_SREGS.byteSize()));
        assertThat(KvmIoctl.SET_SREGS.request).isEqualTo(ioc(w, 0x84, KvmStructs.KVM_SREGS.byteSize()));
        assertThat(KvmIoctl.SET_FPU.request).isEqualTo(ioc(w, 0x8d, KvmStructs.KVM_FPU.byteSize()));
        assertThat(KvmIoctl.GET_LAPIC.request).isEqualTo(ioc(r, 0x8e, KvmStructs.KVM_LAPIC_STATE.byteSize()));
        assertThat(KvmIoctl.SET_LAPIC.request).isEqualTo(ioc(w, 0x8f, KvmStructs.KVM_LAPIC_STATE.byteSize()));
        assertThat(KvmIoctl.SET_USER_MEMORY_REGION.request)
                .isEqualTo(ioc(w, 0x46, KvmStructs.KVM_USERSPACE_MEMORY_REGION.byteSize()));
        assertThat(KvmIoctl.GET_SUPPORTED_CPUID.request).isEqualTo(ioc(rw, 0x05, KvmStructs.KVM_CPUID2.byteSize()));
        assertThat(KvmIoctl.SET_CPUID2.request).isEqualTo(ioc(w, 0x90, KvmStructs.KVM_CPUID2.byteSize()));
        assertThat(KvmIoctl.SET_MSRS.request).isEqualTo(ioc(w, 0x89, KvmStructs.KVM_MSRS.byteSize()));
        assertThat(KvmIoctl.IRQ_LINE.request).isEqualTo(ioc(w, 0x61, KvmStructs.KVM_IRQ_LEVEL.byteSize()));
        assertThat(KvmIoctl.CREATE_PIT2.request).isEqualTo(ioc(w, 0x77, KvmStructs.KVM_PIT_CONFIG.byteSize()));
        assertThat(KvmIoctl.IRQFD.request).isEqualTo(ioc(w, 0x76, KvmStructs.KVM_IRQFD.byteSize()))
                .isEqualTo(0x4020AE76L); // KVM_IRQFD in linux/kvm.h
        assertThat(KvmIoctl.CAP_IRQFD).isEqualTo(32);
        assertThat(KvmIoctl.IRQFD_FLAG_DEASSIGN).isEqualTo(1);
        assertThat(KvmIoctl.GET_DIRTY_LOG.request).isEqualTo(ioc(w, 0x42, KvmStructs.KVM_DIRTY_LOG.byteSize()));
        assertThat(KvmIoctl.SET_SIGNAL_MASK.request).isEqualTo(ioc(w, 0x8b, 4));
        assertThat(KvmIoctl.RUN.request).isEqualTo(ioc(0, 0x80, 0));
        assertThat(KvmIoctl.CREATE_VM.request).isEqualTo(ioc(0, 0x01, 0));
    }
}
