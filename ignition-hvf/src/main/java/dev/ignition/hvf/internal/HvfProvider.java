package dev.ignition.hvf.internal;

import dev.ignition.Availability;
import dev.ignition.BackendUnavailableException;
import dev.ignition.spi.Architecture;
import dev.ignition.spi.HypervisorProvider;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.VmConfig;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;

/**
 * The Hypervisor.framework backend ({@code hvf}), registered for {@link ServiceLoader}.
 * Hypervisor.framework allows one VM per process, so this provider hands out one at a time.
 */
public final class HvfProvider implements HypervisorProvider {
    private static final AtomicBoolean VM_ACTIVE = new AtomicBoolean();
    private static volatile @Nullable Availability cached;

    @Override
    public String name() {
        return "hvf";
    }

    @Override
    public Architecture architecture() {
        return Architecture.ARM64;
    }

    /** The process's executable: the one that must carry the entitlement. */
    static String javaExecutable() {
        return ProcessHandle.current().info().command()
                .orElse(System.getProperty("java.home") + "/bin/java");
    }

    @Override
    public Availability availability() {
        Availability a = cached;
        if (a != null) {
            return a;
        }
        Optional<String> why = HvfNative.probe();
        if (why.isPresent()) {
            a = Availability.unavailable(name(), why.get());
        } else if (VM_ACTIVE.get()) {
            return Availability.available(name(), "Hypervisor.framework (a VM is running in this process)");
        } else {
            a = probeEntitlement(new NativeHvfLayer(javaExecutable()));
        }
        cached = a;
        return a;
    }

    /**
     * Creates and destroys a VM: the only way to learn whether the entitlement is present.
     * Package-private for tests with a fake layer.
     */
    Availability probeEntitlement(HvfLayer hv) {
        if (!VM_ACTIVE.compareAndSet(false, true)) {
            return Availability.available(name(), "Hypervisor.framework (a VM is running in this process)");
        }
        try {
            hv.vmCreate(0);
            hv.vmDestroy();
            return Availability.available(name(), "Hypervisor.framework with the in-framework GICv3");
        } catch (HvfCallException e) {
            return Availability.unavailable(name(), e.getMessage());
        } catch (RuntimeException e) {
            return Availability.unavailable(name(), "Hypervisor.framework probe failed: " + e);
        } finally {
            VM_ACTIVE.set(false);
        }
    }

    @Override
    public HypervisorVm createVm(VmConfig config) {
        Availability a = availability();
        if (!a.available()) {
            throw new BackendUnavailableException(List.of(a));
        }
        return createVm(new NativeHvfLayer(javaExecutable()), config);
    }

    /** Creates a VM over {@code hv}; package-private so tests can pass a fake layer. */
    HvfVm createVm(HvfLayer hv, VmConfig config) {
        if (!VM_ACTIVE.compareAndSet(false, true)) {
            throw new IllegalStateException("Hypervisor.framework allows one VM per process and this process "
                    + "already has one; close it first (or run VMs in separate JVMs)");
        }
        try {
            return new HvfVm(hv, config, () -> VM_ACTIVE.set(false));
        } catch (RuntimeException e) {
            VM_ACTIVE.set(false);
            throw e;
        }
    }
}
