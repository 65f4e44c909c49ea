package dev.ignition.testkit;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs the annotated test class or method only where the named backend can create VMs; elsewhere
 * it is skipped with the backend's own explanation ("/dev/kvm does not exist: …"). A backend that
 * is not on the class path at all fails the test with the artifact to add: that is a build mistake.
 *
 * <p>Set the environment variable {@value BackendCondition#REQUIRE_ENV} to a comma-separated list
 * of backend names (CI does, for hosts that must run them) to turn such a skip into a failure.
 *
 * <pre>{@code
 * @Tag("kvm")
 * @RequiresBackend("kvm")
 * class MyVmTest { ... }
 * }</pre>
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(BackendCondition.class)
public @interface RequiresBackend {
    /** The backend's name, e.g. {@code kvm} or {@code hvf}. */
    String value();
}
