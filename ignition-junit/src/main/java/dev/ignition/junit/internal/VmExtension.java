package dev.ignition.junit.internal;

import dev.ignition.Console;
import dev.ignition.NetworkAttachment;
import dev.ignition.VirtualMachine;
import dev.ignition.junit.IgnitionTest;
import dev.ignition.junit.VmTemplate;
import dev.ignition.testkit.internal.BackendCheck;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.AfterTestExecutionCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.HierarchyTraversalMode;
import org.junit.platform.commons.support.ReflectionSupport;

/**
 * The extension behind {@link IgnitionTest}. State lives in JUnit's stores: the template
 * snapshot in the store of the class declaring the template (closed, and its directory deleted,
 * when that class finishes), each fork in its test method's store (closed when the test ends,
 * failed or not). Nothing is kept in fields, so one instance serves parallel classes and methods.
 */
public final class VmExtension implements ExecutionCondition, BeforeAllCallback, ParameterResolver,
        AfterTestExecutionCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(VmExtension.class);
    /** How much of a failed test's console output goes into its report. */
    private static final int CONSOLE_TAIL = 2000;

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        if (context.getTestMethod().isPresent()) {
            return ConditionEvaluationResult.enabled("decided for the class");
        }
        Optional<Field> field = context.getTestClass().flatMap(VmExtension::findTemplateField);
        if (field.isEmpty()) {
            return ConditionEvaluationResult.enabled("no template to check (reported before the first test)");
        }
        return BackendCheck.decide(BackendCheck.probe(template(field.get()).backend()));
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        snapshot(context);
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        Class<?> type = parameter.getParameter().getType();
        return type == VirtualMachine.class || type == Console.class || type == NetworkAttachment.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        if (context.getTestMethod().isEmpty()) {
            throw new ParameterResolutionException("@IgnitionTest forks a VM per test: only test methods and their"
                    + " @BeforeEach/@AfterEach methods can take a " + parameter.getParameter().getType().getSimpleName()
                    + ", not " + parameter.getDeclaringExecutable());
        }
        TemplateSnapshot.Fork fork = fork(context);
        Class<?> type = parameter.getParameter().getType();
        if (type == NetworkAttachment.class) {
            // Each fork has its own network backend, so its forwarded host ports are its own.
            return fork.vm().network().orElseThrow(() -> new ParameterResolutionException(
                    "the template's VM has no network device, so there is no NetworkAttachment for "
                            + parameter.getDeclaringExecutable() + ": add .configure(b -> b.network("
                            + "Network.userMode().forwardTcp(0, <guest port>))) to the VmTemplate"));
        }
        return type == Console.class ? fork.vm().console() : fork.vm();
    }

    @Override
    public void afterTestExecution(ExtensionContext context) {
        if (context.getExecutionException().isEmpty()) {
            return;
        }
        TemplateSnapshot.Fork fork = context.getStore(NS).get(forkKey(context), TemplateSnapshot.Fork.class);
        if (fork != null) {
            String out = fork.vm().console().output();
            context.publishReportEntry("ignition.console",
                    out.length() > CONSOLE_TAIL ? "…" + out.substring(out.length() - CONSOLE_TAIL) : out);
        }
    }

    /** The test's fork, created on first use and closed with the test's store. */
    private static TemplateSnapshot.Fork fork(ExtensionContext context) {
        return context.getStore(NS).getOrComputeIfAbsent(forkKey(context), k -> {
            TemplateSnapshot snapshot = snapshot(context);
            TemplateSnapshot.Fork f = snapshot.fork();
            String ms = String.format(Locale.ROOT, "%.2f ms", f.forkTime().toNanos() / 1e6);
            context.publishReportEntry("ignition.fork", "forked in " + ms);
            timings(snapshot.name() + ": forked for " + context.getDisplayName() + " in " + ms);
            return f;
        }, TemplateSnapshot.Fork.class);
    }

    /** Unique per test method context, so a parent context's fork is never found. */
    private static Object forkKey(ExtensionContext context) {
        return List.of("fork", context.getUniqueId());
    }

    private static TemplateSnapshot snapshot(ExtensionContext context) {
        Class<?> testClass = context.getRequiredTestClass();
        Field field = findTemplateField(testClass).orElseThrow(() -> new ExtensionConfigurationException(
                "@IgnitionTest class " + testClass.getName() + " declares no static VmTemplate field: add one, e.g."
                        + " static final VmTemplate VM = VmTemplate.boot(TestGuests.echo());"));
        VmTemplate template = template(field);
        // Keyed by the field, stored in the context of the class declaring it: @Nested classes share it.
        ExtensionContext owner = declaringContext(context, field.getDeclaringClass());
        return owner.getStore(NS).getOrComputeIfAbsent(List.of("template", field), k -> {
            TemplateSnapshot s = TemplateSnapshot.create(template, field.getDeclaringClass().getSimpleName() + "." + field.getName());
            owner.publishReportEntry("ignition.template", s.summary());
            timings(s.name() + ": template " + s.summary());
            return new Timed(s);
        }, Timed.class).snapshot();
    }

    /**
     * Prints one line of timings. Report entries reach only listeners that show them (Surefire
     * does not), so the template's and each fork's time also go to standard output, which
     * Surefire shows on the console and keeps in its XML report with the test that printed it;
     * the forks' summary, printed when the class is done, reaches the console only.
     */
    private static void timings(String line) {
        System.out.println("[ignition] " + line);
    }

    /** Stored in place of the snapshot so that closing it prints the forks' times first. */
    private record Timed(TemplateSnapshot snapshot) implements AutoCloseable {
        @Override
        public void close() {
            timings(snapshot.name() + ": " + snapshot.forkSummary());
            snapshot.close();
        }
    }

    /** The outermost class context whose class declares or inherits the template field. */
    private static ExtensionContext declaringContext(ExtensionContext context, Class<?> declaring) {
        ExtensionContext found = context;
        for (Optional<ExtensionContext> c = Optional.of(context); c.isPresent(); c = c.get().getParent()) {
            if (c.get().getTestMethod().isEmpty() && c.get().getTestClass().filter(declaring::isAssignableFrom).isPresent()) {
                found = c.get();
            }
        }
        return found;
    }

    /** The one static VmTemplate field of {@code type} (or its superclasses), else of an enclosing class. */
    static Optional<Field> findTemplateField(Class<?> type) {
        for (Class<?> c = type; c != null; c = c.getEnclosingClass()) {
            List<Field> fields = ReflectionSupport.findFields(c,
                    f -> Modifier.isStatic(f.getModifiers()) && VmTemplate.class.isAssignableFrom(f.getType()),
                    HierarchyTraversalMode.TOP_DOWN);
            if (fields.size() > 1) {
                throw new ExtensionConfigurationException("@IgnitionTest class " + c.getName()
                        + " declares " + fields.size() + " static VmTemplate fields " + fields.stream().map(Field::getName).toList()
                        + "; it must declare exactly one");
            }
            if (fields.size() == 1) {
                return Optional.of(fields.getFirst());
            }
        }
        return Optional.empty();
    }

    private static VmTemplate template(Field field) {
        @Nullable Object value;
        try {
            field.setAccessible(true);
            value = field.get(null);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new ExtensionConfigurationException("cannot read the VmTemplate field " + field + ": " + e, e);
        }
        if (value == null) {
            throw new ExtensionConfigurationException("the VmTemplate field " + field.getDeclaringClass().getName() + "."
                    + field.getName() + " is null");
        }
        return (VmTemplate) value;
    }
}
