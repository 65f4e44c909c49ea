package dev.ignition.testkit.internal;

import dev.ignition.Availability;
import dev.ignition.Backends;
import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;

/**
 * Whether tests that need a backend may run: the backend's own probe decides, and the
 * environment variable {@code IGNITION_REQUIRE_BACKENDS} turns a skip into a failure.
 */
public final class BackendCheck {
    /** Environment variable naming backends whose tests must not be skipped. */
    public static final String REQUIRE_ENV = "IGNITION_REQUIRE_BACKENDS";

    private BackendCheck() {}

    /** The probe of backend {@code name}, or of the first available backend when null. */
    public static Availability probe(@Nullable String name) {
        if (name == null) {
            return Backends.availability();
        }
        return Backends.provider(name)
                .map(p -> p.availability())
                .orElse(Availability.unavailable(name, "backend '" + name + "' is not on the test class path"));
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
