package dev.ignition.junit;

import dev.ignition.IgnitionException;
import dev.ignition.VirtualMachine;
import dev.ignition.device.Vsock;
import java.io.IOException;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * When a template VM is ready for its snapshot ({@link VmTemplate#waitingFor(WaitStrategy)}):
 * console text, a console match, a condition on the VM, or a guest vsock port that accepts
 * connections.
 *
 * <pre>{@code
 * VmTemplate.boot(guest).waitingFor(WaitStrategy.consoleMatches(Pattern.compile("ready after \\d+ ms")));
 * VmTemplate.boot(guest).waitingFor(WaitStrategy.until("the counter passed 10", vm -> vm.memory().readLong(0x8000) > 10));
 * VmTemplate.boot(guest).configure(b -> b.vsock(3)).waitingFor(WaitStrategy.vsockPort(5000));
 * }</pre>
 */
public sealed interface WaitStrategy {
    /** How often {@link Condition} and {@link VsockPort} look again. */
    Duration POLL_INTERVAL = Duration.ofMillis(10);

    /**
     * Returns once {@code vm} is ready.
     *
     * @throws IgnitionException if it is not ready within {@code timeout} (the message says what
     *     was awaited and what was seen), or the VM exited first
     */
    void await(VirtualMachine vm, Duration timeout);

    /** Ready when the console has printed {@code text}. */
    static WaitStrategy consoleText(String text) {
        return new ConsoleText(text);
    }

    /** Ready when something on the console matches {@code pattern}. */
    static WaitStrategy consoleMatches(Pattern pattern) {
        return new ConsoleMatch(pattern);
    }

    /**
     * Ready when {@code condition} holds, tested every {@link #POLL_INTERVAL}; {@code description}
     * names it in errors ("the counter passed 10").
     */
    static WaitStrategy until(String description, Predicate<VirtualMachine> condition) {
        return new Condition(description, condition);
    }

    /**
     * Ready when the guest accepts a vsock connection on {@code guestPort} (the connection is
     * closed at once); the template must configure a vsock device ({@code b.vsock(3)}).
     */
    static WaitStrategy vsockPort(int guestPort) {
        return new VsockPort(guestPort);
    }

    /** See {@link #consoleText(String)}. */
    record ConsoleText(String text) implements WaitStrategy {
        public ConsoleText {
            Objects.requireNonNull(text, "text");
            if (text.isEmpty()) {
                throw new IllegalArgumentException("the console text to wait for must not be empty");
            }
        }

        @Override
        public void await(VirtualMachine vm, Duration timeout) {
            vm.console().waitFor(text, timeout);
        }
    }

    /** See {@link #consoleMatches(Pattern)}. */
    record ConsoleMatch(Pattern pattern) implements WaitStrategy {
        public ConsoleMatch {
            Objects.requireNonNull(pattern, "pattern");
        }

        @Override
        public void await(VirtualMachine vm, Duration timeout) {
            vm.console().waitForMatch(pattern, timeout);
        }
    }

    /** See {@link #until(String, Predicate)}. */
    record Condition(String description, Predicate<VirtualMachine> condition) implements WaitStrategy {
        public Condition {
            Objects.requireNonNull(description, "description");
            Objects.requireNonNull(condition, "condition");
        }

        @Override
        public void await(VirtualMachine vm, Duration timeout) {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!condition.test(vm)) {
                vm.exit().ifPresent(x -> {
                    throw new IgnitionException("the VM exited (" + x + ") before " + description);
                });
                if (System.nanoTime() - deadline > 0) {
                    throw new IgnitionException("'" + description + "' was not true within " + timeout);
                }
                sleep(POLL_INTERVAL);
            }
        }
    }

    /** See {@link #vsockPort(int)}. */
    record VsockPort(int guestPort) implements WaitStrategy {
        public VsockPort {
            if (guestPort < 0) {
                throw new IllegalArgumentException("a vsock port is 0 or more, was " + guestPort);
            }
        }

        @Override
        public void await(VirtualMachine vm, Duration timeout) {
            Vsock vsock = vm.vsock().orElseThrow(() -> new IgnitionException("cannot wait for vsock port " + guestPort
                    + ": the VM has no vsock device; add one with configure(b -> b.vsock(3))"));
            long deadline = System.nanoTime() + timeout.toNanos();
            IOException last = null;
            while (true) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IgnitionException("the guest accepted no vsock connection on port " + guestPort + " within "
                            + timeout + (last == null ? "" : "; last attempt: " + last.getMessage()), last);
                }
                try {
                    vsock.connect(guestPort, Duration.ofNanos(left)).close();
                    return;
                } catch (IOException e) {
                    // refused (nothing listens yet), timed out, or the guest's driver not yet up
                    last = e;
                }
                vm.exit().ifPresent(x -> {
                    throw new IgnitionException("the VM exited (" + x + ") before its vsock port " + guestPort
                            + " accepted a connection");
                });
                sleep(POLL_INTERVAL);
            }
        }
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IgnitionException("interrupted while waiting for the VM to be ready", e);
        }
    }
}
