package dev.ignition;

import dev.ignition.spi.HypervisorProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;
import org.jspecify.annotations.Nullable;

/**
 * Finds hypervisor backends on the class or module path and says whether they can run VMs here.
 *
 * <pre>{@code
 * Availability a = Backends.availability();
 * if (!a.available()) System.err.println("no VMs here: " + a.reason());
 * }</pre>
 */
public final class Backends {
    private Backends() {}

    /** Every backend found, each with its probe result. */
    public static List<Availability> probeAll() {
        List<Availability> out = new ArrayList<>();
        for (HypervisorProvider p : providers()) {
            out.add(p.availability());
        }
        return out;
    }

    /**
     * The first available backend, or an unavailable result whose reason covers every backend
     * tried (or says that none is on the class path).
     */
    public static Availability availability() {
        List<Availability> all = probeAll();
        for (Availability a : all) {
            if (a.available()) {
                return a;
            }
        }
        return Availability.unavailable("none", new BackendUnavailableException(all).getMessage());
    }

    /** The provider named {@code name}, if one is on the path. */
    public static Optional<HypervisorProvider> provider(String name) {
        for (HypervisorProvider p : providers()) {
            if (p.name().equals(name)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** The backend a VM would use: the named one, or the first available. */
    static HypervisorProvider select(String name) {
        List<Availability> tried = new ArrayList<>();
        for (HypervisorProvider p : providers()) {
            if (name != null && !p.name().equals(name)) {
                continue;
            }
            Availability a = p.availability();
            if (a.available()) {
                return p;
            }
            tried.add(a);
        }
        if (name != null && tried.isEmpty()) {
            tried.add(Availability.unavailable(name, "no backend named '" + name + "' on the class path"));
        }
        throw new BackendUnavailableException(tried);
    }

    /** Found once: every build() asks, and a ServiceLoader scan costs more than some VMs take to start. */
    private static volatile @Nullable List<HypervisorProvider> providers;

    static List<HypervisorProvider> providers() {
        List<HypervisorProvider> found = providers;
        if (found == null) {
            List<HypervisorProvider> out = new ArrayList<>();
            ServiceLoader.load(HypervisorProvider.class, Backends.class.getClassLoader()).forEach(out::add);
            found = List.copyOf(out);
            providers = found;
        }
        return found;
    }
}
