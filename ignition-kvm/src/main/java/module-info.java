/**
 * The Linux x86_64 backend: KVM through FFM ({@code ioctl}, {@code mmap}), with the in-kernel
 * irqchip and PIT, CPUID from the host, dirty logging, and vCPU kicks by thread signals.
 */
module dev.ignition.kvm {
    requires dev.ignition.core;
    requires org.slf4j;

    provides dev.ignition.spi.HypervisorProvider with dev.ignition.kvm.internal.KvmProvider;
}
