package dev.ignition.junit;

import dev.ignition.Console;
import dev.ignition.VirtualMachine;
import dev.ignition.junit.internal.VmExtension;
import dev.ignition.testkit.BackendCondition;
import dev.ignition.testkit.RequiresBackend;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Gives every test of the class a fresh VM forked from one snapshot.
 *
 * <p>The class declares one {@code static} {@link VmTemplate} field. Before the class's first
 * test the extension boots that VM once, waits until it is ready, runs its preparation steps and
 * snapshots it into a temporary snapshot store. Each test (and its {@code @BeforeEach} and
 * {@code @AfterEach} methods) that declares a {@link VirtualMachine} or
 * {@link Console} parameter then gets its own VM restored from that snapshot with
 * copy-on-write memory, already running, and closed after the test whether it passed or not. The
 * store is deleted after the class. Tests never see each other's changes, and may run in
 * parallel.
 *
 * <p>Where the template's backend (or, if it names none, every backend) cannot run here, the
 * class is skipped with the backend's own reason; the environment variable
 * {@value BackendCondition#REQUIRE_ENV} turns that skip into a failure,
 * as for {@link RequiresBackend}.
 *
 * <pre>{@code
 * @Tag("kvm")
 * @IgnitionTest
 * class CounterTest {
 *     static final VmTemplate COUNTER = VmTemplate.boot(TestGuests.echo())
 *             .configure(b -> b.memoryMiB(16))
 *             .waitingFor(TestGuests.ECHO_READY);
 *
 *     @Test
 *     void echoes(VirtualMachine vm) {
 *         vm.console().write("hi");
 *         vm.console().waitFor("hi", Duration.ofSeconds(10));
 *     }
 * }
 * }</pre>
 *
 * <p>The template's boot and snapshot times, each fork's time, and when the class is done a
 * summary of the forks are printed to standard output as lines starting with {@code [ignition]}
 * (Surefire shows them, and keeps all but the summary in its XML report). They are also
 * published as the report entries {@code ignition.template} and {@code ignition.fork} (restore
 * and start, per test); a failed test gets the tail of its VM's console as
 * {@code ignition.console}.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(VmExtension.class)
public @interface IgnitionTest {}
