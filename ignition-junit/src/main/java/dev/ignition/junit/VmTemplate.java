package dev.ignition.junit;

import dev.ignition.VirtualMachine;
import dev.ignition.guest.Guest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The VM an {@link IgnitionTest} class forks its tests from: how to boot it, when it is ready,
 * and what to do to it before the snapshot. Immutable; every method returns a new template.
 *
 * <pre>{@code
 * @IgnitionTest
 * class EchoTest {
 *     static final VmTemplate ECHO = VmTemplate.boot(TestGuests.echo())
 *             .configure(b -> b.memoryMiB(16))
 *             .waitingFor(TestGuests.ECHO_READY)
 *             .beforeSnapshot(vm -> vm.console().write("warm-up"));
 *
 *     @Test
 *     void echoes(VirtualMachine vm) {       // a fresh fork of the snapshot, already running
 *         vm.console().write("ping");
 *         vm.console().waitFor("ping", Duration.ofSeconds(10));
 *     }
 * }
 * }</pre>
 *
 * @param guest what the template VM boots (forks do not boot: they continue from the snapshot)
 * @param machine configures the builder of the template VM and of every fork: memory, vCPUs,
 *     devices (create new device instances in it: each VM needs its own), console outputs; it must
 *     not set a guest
 * @param backend the backend to use and to probe, or null for the first available one
 * @param ready what the template VM must reach before the snapshot (console text, a console match,
 *     a condition, a vsock port accepting connections), or null to snapshot it right after start
 * @param startupTimeout how long to wait for {@code ready}
 * @param beforeSnapshot steps run on the ready template VM, in order, before the snapshot
 */
public record VmTemplate(Guest guest, UnaryOperator<VirtualMachine.Builder> machine, @Nullable String backend,
        @Nullable WaitStrategy ready, Duration startupTimeout, List<Consumer<VirtualMachine>> beforeSnapshot) {

    /** How long a template waits to be ready unless told otherwise. */
    public static final Duration DEFAULT_STARTUP_TIMEOUT = Duration.ofMinutes(2);

    public VmTemplate {
        Objects.requireNonNull(guest, "guest");
        Objects.requireNonNull(machine, "machine");
        Objects.requireNonNull(startupTimeout, "startupTimeout");
        if (startupTimeout.isNegative() || startupTimeout.isZero()) {
            throw new IllegalArgumentException("startupTimeout must be positive, was " + startupTimeout);
        }
        beforeSnapshot = List.copyOf(beforeSnapshot);
    }

    /** A template that boots {@code guest} with the builder's defaults and snapshots it at once. */
    public static VmTemplate boot(Guest guest) {
        return new VmTemplate(guest, UnaryOperator.identity(), null, null, DEFAULT_STARTUP_TIMEOUT, List.of());
    }

    /** Adds builder configuration (applied after what was configured before) for the template and its forks. */
    public VmTemplate configure(UnaryOperator<VirtualMachine.Builder> more) {
        Objects.requireNonNull(more, "more");
        UnaryOperator<VirtualMachine.Builder> before = machine;
        return new VmTemplate(guest, b -> more.apply(before.apply(b)), backend, ready, startupTimeout, beforeSnapshot);
    }

    /** Uses backend {@code name} ({@code kvm}, {@code hvf}); tests skip with its probe's reason where it is unusable. */
    public VmTemplate backend(String name) {
        return new VmTemplate(guest, machine, Objects.requireNonNull(name, "name"), ready, startupTimeout, beforeSnapshot);
    }

    /** Waits until the template VM prints {@code consoleText} before preparing and snapshotting it. */
    public VmTemplate waitingFor(String consoleText) {
        return waitingFor(WaitStrategy.consoleText(consoleText));
    }

    /** Waits until something the template VM prints matches {@code consolePattern}. */
    public VmTemplate waitingFor(Pattern consolePattern) {
        return waitingFor(WaitStrategy.consoleMatches(consolePattern));
    }

    /**
     * Waits until the template VM is ready as {@code strategy} says (replacing an earlier wait):
     * console text or a match, a condition ({@link WaitStrategy#until}), a guest vsock port that
     * accepts connections ({@link WaitStrategy#vsockPort}).
     */
    public VmTemplate waitingFor(WaitStrategy strategy) {
        return new VmTemplate(guest, machine, backend, Objects.requireNonNull(strategy, "strategy"), startupTimeout,
                beforeSnapshot);
    }

    /** How long the {@code waitingFor} strategy may take (default {@link #DEFAULT_STARTUP_TIMEOUT}). */
    public VmTemplate startupTimeout(Duration timeout) {
        return new VmTemplate(guest, machine, backend, ready, timeout, beforeSnapshot);
    }

    /**
     * Adds a step run on the ready template VM before the snapshot: typing into its console,
     * writing its memory. Every test's fork sees what the steps did.
     */
    public VmTemplate beforeSnapshot(Consumer<VirtualMachine> step) {
        List<Consumer<VirtualMachine>> steps = new ArrayList<>(beforeSnapshot);
        steps.add(Objects.requireNonNull(step, "step"));
        return new VmTemplate(guest, machine, backend, ready, startupTimeout, steps);
    }

    /** The backend, if one was named. */
    public Optional<String> backendName() {
        return Optional.ofNullable(backend);
    }

    /** A builder for the template VM or a fork: {@link #machine()} applied, the backend set if named. */
    public VirtualMachine.Builder newBuilder() {
        VirtualMachine.Builder b = machine.apply(VirtualMachine.builder());
        return backend == null ? b : b.backend(backend);
    }
}
