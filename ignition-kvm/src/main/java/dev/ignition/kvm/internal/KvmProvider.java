package dev.ignition.kvm.internal;

import dev.ignition.Availability;
import dev.ignition.internal.posix.Errno;
import dev.ignition.internal.posix.Libc;
import dev.ignition.spi.Architecture;
import dev.ignition.spi.HypervisorProvider;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.VmConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/** The KVM backend's entry point: probes {@code /dev/kvm} and creates {@link KvmVm}s. */
public final class KvmProvider implements HypervisorProvider {
    static final String DEVICE = "/dev/kvm";

    @Override
    public String name() {
        return "kvm";
    }

    @Override
    public Architecture architecture() {
        return Architecture.X86_64;
    }

    /** A successful probe, kept: every build() asks, and /dev/kvm does not stop working. */
    private static volatile @Nullable Availability available;

    @Override
    public Availability availability() {
        Availability a = available;
        if (a != null) {
            return a;
        }
        try {
            a = probe();
        } catch (RuntimeException | LinkageError e) {
            return Availability.unavailable(name(), "probing " + DEVICE + " failed: " + e);
        }
        if (a.available()) {
            available = a;
        }
        return a;
    }

    private Availability probe() {
        String os = System.getProperty("os.name", "?");
        String arch = System.getProperty("os.arch", "?");
        if (!os.toLowerCase(Locale.ROOT).contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return Availability.unavailable(name(), "KVM needs Linux on x86_64; this host is " + os + " " + arch);
        }
        if (!Files.exists(Path.of(DEVICE))) {
            return Availability.unavailable(name(), DEVICE + " does not exist: KVM is not enabled on this host "
                    + "(load kvm_intel or kvm_amd, enable virtualization in the firmware, or nested "
                    + "virtualization when this host is itself a VM)");
        }
        int fd = Libc.tryOpen(DEVICE, Libc.O_RDWR | Libc.O_CLOEXEC);
        if (fd < 0) {
            int errno = -fd;
            if (errno == Errno.EACCES || errno == Errno.EPERM) {
                return Availability.unavailable(name(), DEVICE + ": permission denied: add this user to the "
                        + "'kvm' group (sudo usermod -aG kvm $USER) and log in again");
            }
            return Availability.unavailable(name(), "cannot open " + DEVICE + ": " + Errno.name(errno)
                    + " (" + Errno.describe(errno) + ")");
        }
        try {
            int version = Libc.ioctlRaw(fd, KvmIoctl.GET_API_VERSION.request, 0);
            if (version != KvmIoctl.API_VERSION) {
                return Availability.unavailable(name(), "KVM API version " + version + " on " + DEVICE
                        + "; Ignition needs " + KvmIoctl.API_VERSION);
            }
            List<String> missing = new ArrayList<>();
            checkCap(fd, KvmIoctl.CAP_IRQCHIP, "KVM_CAP_IRQCHIP", missing);
            checkCap(fd, KvmIoctl.CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", missing);
            checkCap(fd, KvmIoctl.CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", missing);
            checkCap(fd, KvmIoctl.CAP_PIT2, "KVM_CAP_PIT2", missing);
            checkCap(fd, KvmIoctl.CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", missing);
            if (!missing.isEmpty()) {
                return Availability.unavailable(name(), "this KVM lacks " + String.join(", ", missing));
            }
            return Availability.available(name(), "KVM API " + version + " on " + DEVICE);
        } finally {
            Libc.close(fd);
        }
    }

    private static void checkCap(int fd, int cap, String capName, List<String> missing) {
        if (Libc.ioctlRaw(fd, KvmIoctl.CHECK_EXTENSION.request, cap) <= 0) {
            missing.add(capName);
        }
    }

    @Override
    public HypervisorVm createVm(VmConfig config) {
        return new KvmVm(KvmSystem.get(), config);
    }

    /**
     * Waits until the backend's background work is done: retired VMs closed, the shell pool full
     * (see {@code KvmShells}). For tests that count descriptors; not exported from the module.
     */
    public static boolean awaitBackgroundWork(Duration timeout) throws InterruptedException {
        return KvmSystem.get().shells.awaitIdle(timeout);
    }
}
