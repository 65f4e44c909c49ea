package dev.ignition.testkit;

import dev.ignition.Availability;
import dev.ignition.Backends;
import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

/** The condition behind {@link RequiresBackend}. */
public final class BackendCondition implements ExecutionCondition {
    /** Environment variable naming backends whose tests must not be skipped. */
    public static final String REQUIRE_ENV = "IGNITION_REQUIRE_BACKENDS";

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        Optional<RequiresBackend> ann = context.getElement()
                .flatMap(e -> AnnotationSupport.findAnnotation(e, RequiresBackend.class));
        if (ann.isEmpty()) {
            return ConditionEvaluationResult.enabled("no backend required");
        }
        String name = ann.get().value();
        Availability a = Backends.provider(name)
                .map(p -> p.availability())
                .orElse(Availability.unavailable(name, "backend '" + name + "' is not on the test class path"));
        if (a.available()) {
            return ConditionEvaluationResult.enabled(name + ": " + a.reason());
        }
        String required = System.getenv(REQUIRE_ENV);
        if (required != null && Arrays.asList(required.split(",")).contains(name)) {
            throw new IllegalStateException(REQUIRE_ENV + " requires backend '" + name
                    + "' but it is unavailable: " + a.reason());
        }
        return ConditionEvaluationResult.disabled("backend '" + name + "' unavailable: " + a.reason());
    }
}
