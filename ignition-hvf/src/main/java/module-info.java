/**
 * Ignition's macOS arm64 backend over Hypervisor.framework, bound through FFM. Register it by
 * putting this module (or jar) on the module or class path; {@code ServiceLoader} finds it.
 * Needs macOS 15 or newer on Apple silicon, a JDK 22+ for arm64, and a {@code java} executable
 * signed with the {@code com.apple.security.hypervisor} entitlement (see docs/macos.md).
 */
module dev.ignition.hvf {
    requires dev.ignition.core;
    requires org.slf4j;

    provides dev.ignition.spi.HypervisorProvider with dev.ignition.hvf.internal.HvfProvider;
}
