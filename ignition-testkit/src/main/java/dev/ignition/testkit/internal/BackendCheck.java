package dev.ignition.testkit.internal;

import dev.ignition.Availability;
import dev.ignition.BackendUnavailableException;
import dev.ignition.Backends;
import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;

/**
 * Whether tests that need a backend may run: a backend missing from the class path is a
 * configuration error, the backend's own probe decides otherwise, and the environment variable
 * {@code IGNITION_REQUIRE_BACKENDS} turns a skip into a failure.
 */
public final class BackendCheck {
    /** Environment variable naming backends whose tests must not be skipped. */
    public static final String REQUIRE_ENV = "IGNITION_REQUIRE_BACKENDS";

    private BackendCheck() {}

    /**
     * The probe of backend {@code name}, or of the first available backend when null.
     *
     * @throws ExtensionConfigurationException when that backend (or, for null, any backend) is not
     *     on the class path: a build that lacks a dependency, reported as an error with the
     *     artifact to add rather than skipped like a host that lacks a hypervisor
     */
    public static Availability probe(@Nullable String name) {
        List<Availability> all = Backends.probeAll();
        requireOnClassPath(name, all.stream().map(Availability::backend).toList());
        if (name == null) {
            return all.stream().filter(Availability::available).findFirst()
                    .orElseGet(() -> Availability.unavailable("none", new BackendUnavailableException(all).getMessage()));
        }
        return all.stream().filter(a -> a.backend().equals(name)).findFirst().orElseThrow();
    }

    /** Throws when {@code name} (or, for null, any backend) is not among the backends {@code found}. */
    static void requireOnClassPath(@Nullable String name, List<String> found) {
        if (name == null ? found.isEmpty() : !found.contains(name)) {
            throw new ExtensionConfigurationException(missingMessage(name, found));
        }
    }

    static String missingMessage(@Nullable String name, List<String> found) {
        String how = " as a test dependency next to ignition-junit or ignition-testkit (Maven: <scope>test</scope>;"
                + " Gradle: testRuntimeOnly), or put its module on the module path: ";
        if (name == null) {
            return "No Ignition backend is on the test class path, so no VM can be created. Add one" + how
                    + "dev.ignition:ignition-kvm (module dev.ignition.kvm) for Linux x86_64, dev.ignition:ignition-hvf"
                    + " (module dev.ignition.hvf) for macOS arm64; both may be present, each skips where it cannot run.";
        }
        return "Backend '" + name + "' is not on the test class path (" + (found.isEmpty() ? "no backend is"
                : "found: " + String.join(", ", found)) + "). Add it" + how + "dev.ignition:ignition-" + name
                + " (module dev.ignition." + name + ").";
    }

    /** {@link #decide(Availability, String)} with the process's environment. */
    public static ConditionEvaluationResult decide(Availability a) {
        return decide(a, System.getenv(REQUIRE_ENV));
    }

    /**
     * Enabled when {@code a} is available; otherwise disabled with its reason, unless
     * {@code required} (a comma-separated list of backend names) names the backend, or names any
     * backend when no specific one was asked for ({@code a.backend()} is {@code none}).
     *
     * @throws IllegalStateException when a required backend is unavailable
     */
    public static ConditionEvaluationResult decide(Availability a, @Nullable String required) {
        if (a.available()) {
            return ConditionEvaluationResult.enabled(a.backend() + ": " + a.reason());
        }
        List<String> names = required == null ? List.of()
                : Arrays.stream(required.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
        boolean anyBackend = a.backend().equals("none");
        if (names.contains(a.backend()) || (anyBackend && !names.isEmpty())) {
            throw new IllegalStateException(REQUIRE_ENV + "=" + required + " requires "
                    + (anyBackend ? "a usable backend" : "backend '" + a.backend() + "'")
                    + " but it is unavailable: " + a.reason());
        }
        return ConditionEvaluationResult.disabled(anyBackend ? "no backend can run VMs here: " + a.reason()
                : "backend '" + a.backend() + "' unavailable: " + a.reason());
    }
}
