/**
 * Ignition core: the public API for building and running micro-VMs, the hypervisor SPI that
 * backends implement, guest memory, the device SPI and the freestanding test guests.
 *
 * <p>Backends ({@code dev.ignition.kvm}, {@code dev.ignition.hvf}) are found through
 * {@link java.util.ServiceLoader}; this module never imports one.
 */
module dev.ignition.core {
    requires transitive org.jspecify;
    requires org.slf4j;

    exports dev.ignition;
    exports dev.ignition.device;
    exports dev.ignition.guest;
    exports dev.ignition.initramfs;
    exports dev.ignition.memory;
    exports dev.ignition.spi;

    // Shared native plumbing for the backends and the snapshot store only.
    exports dev.ignition.internal.posix to dev.ignition.kvm, dev.ignition.hvf, dev.ignition.snapshot;
    exports dev.ignition.internal.x86 to dev.ignition.kvm;
    exports dev.ignition.internal.vm to dev.ignition.snapshot;
    // The one snapshot-state encoding, shared by the backends and the store.
    exports dev.ignition.internal.state to dev.ignition.kvm, dev.ignition.hvf, dev.ignition.snapshot;
    exports dev.ignition.internal.arm64 to dev.ignition.hvf;

    uses dev.ignition.spi.HypervisorProvider;
}
