package dev.ignition.testkit;

import dev.ignition.testkit.internal.BackendCheck;
import java.util.Optional;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

/** The condition behind {@link RequiresBackend}. */
public final class BackendCondition implements ExecutionCondition {
    /** Environment variable naming backends whose tests must not be skipped. */
    public static final String REQUIRE_ENV = BackendCheck.REQUIRE_ENV;

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        Optional<RequiresBackend> ann = context.getElement()
                .flatMap(e -> AnnotationSupport.findAnnotation(e, RequiresBackend.class));
        if (ann.isEmpty()) {
            return ConditionEvaluationResult.enabled("no backend required");
        }
        return BackendCheck.decide(BackendCheck.probe(ann.get().value()));
    }
}
