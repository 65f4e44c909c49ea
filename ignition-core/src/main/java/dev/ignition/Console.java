package dev.ignition;

import dev.ignition.guest.ConsoleLink;
import dev.ignition.guest.ShellSession;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.regex.MatchResult;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The VM's serial console: what the guest printed, and a way to type into it.
 *
 * <pre>{@code
 * vm.console().waitFor("ready", Duration.ofSeconds(5));
 * vm.console().write("hello\n");
 * String reply = vm.console().waitFor("\n", Duration.ofSeconds(5));
 * }</pre>
 *
 * <p>Output is kept (the most recent {@value #RETAINED_BYTES} bytes) so tests can wait for text
 * that has already arrived. {@link #waitFor} consumes output up to the match: the next call looks
 * only at what came after it.
 */
public final class Console implements ConsoleLink {
    /** How much recent output the console keeps for {@link #waitFor} and {@link #output()}. */
    public static final int RETAINED_BYTES = 1 << 20;

    private final List<OutputStream> sinks = new CopyOnWriteArrayList<>();
    private final List<Consumer<byte[]>> listeners = new CopyOnWriteArrayList<>();
    private final ArrayDeque<Byte> input = new ArrayDeque<>();
    private byte[] retained = new byte[4096];
    private int length;
    /** Absolute output offset of retained[0], and of the first byte not yet consumed by waitFor. */
    private long retainedStart;
    private long consumed;
    private volatile Runnable inputAvailable = () -> {};
    /** EXITED or CLOSED once the VM can print no more; null while it can. Guarded by this. */
    private @Nullable VmState ended;

    Console(List<OutputStream> sinks, List<Consumer<byte[]>> listeners) {
        this.sinks.addAll(sinks);
        this.listeners.addAll(listeners);
    }

    /** Sends {@code text} (UTF-8) to the guest's serial input. */
    public void write(String text) {
        write(text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Sends raw bytes to the guest's serial input.
     *
     * @throws IllegalVmStateException if the VM is closed
     */
    public void write(byte[] bytes) {
        synchronized (this) {
            if (ended == VmState.CLOSED) {
                throw new IllegalVmStateException("write to the console of", ended);
            }
            for (byte b : bytes) {
                input.addLast(b);
            }
        }
        inputAvailable.run();
    }

    /** {@link ConsoleLink}: the same as {@link #write(byte[])}. */
    @Override
    public void send(byte[] bytes) {
        write(bytes);
    }

    /**
     * {@link ConsoleLink}: like {@link #waitFor} but returns null on timeout,
     * so a {@link ShellSession} can run over this console:
     * {@code ShellSession.open(vm.console(), Duration.ofMinutes(1)).exec("uname -r")}.
     */
    @Override
    public @Nullable String awaitText(String text, Duration timeout) {
        try {
            return waitFor(text, timeout);
        } catch (ConsoleTimeoutException e) {
            return null;
        }
    }

    /** Everything retained so far, decoded as UTF-8. */
    public synchronized String output() {
        return new String(retained, 0, length, StandardCharsets.UTF_8);
    }

    /** Everything retained so far, as raw bytes. */
    public synchronized byte[] outputBytes() {
        return Arrays.copyOf(retained, length);
    }

    /** Total bytes the guest has written to the console. */
    public synchronized long bytesWritten() {
        return retainedStart + length;
    }

    /**
     * Waits until {@code text} appears in output not yet consumed, consumes through it, and
     * returns the consumed output (ending with {@code text}).
     *
     * @throws ConsoleTimeoutException if it does not appear within {@code timeout}; the message
     *     shows the tail of what did arrive
     * @throws IllegalVmStateException at once (not after the timeout) if it has not appeared and
     *     cannot any more: the VM exited or was closed
     */
    public String waitFor(String text, Duration timeout) {
        byte[] needle = text.getBytes(StandardCharsets.UTF_8);
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (this) {
            while (true) {
                long from = Math.max(consumed, retainedStart);
                int idx = indexOf(needle, (int) (from - retainedStart));
                if (idx >= 0) {
                    int start = (int) (from - retainedStart);
                    int end = idx + needle.length;
                    consumed = retainedStart + end;
                    return new String(retained, start, end - start, StandardCharsets.UTF_8);
                }
                awaitMoreOutput((int) (from - retainedStart), deadline, timeout, "'" + text + "'",
                        "'" + text + "' did not appear");
            }
        }
    }

    /**
     * Nothing matched in the unconsumed output from {@code from}: fails at once if no more output
     * can come (the VM ended) or the deadline passed, else waits for more. Called holding the monitor.
     */
    private void awaitMoreOutput(int from, long deadline, Duration timeout, String what, String notSeen) {
        if (ended != null) {
            throw new IllegalVmStateException("wait for " + what + " on the console of", ended,
                    "last output: \"" + tail(from) + "\"");
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new ConsoleTimeoutException(notSeen + " on the console within " + timeout + "; last output: \""
                    + tail(from) + "\"");
        }
        try {
            wait(Math.max(1, left / 1_000_000), 0);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IgnitionException("interrupted while waiting for console output", e);
        }
    }

    /** Up to the last 400 retained bytes from {@code from} on, for error messages. */
    private String tail(int from) {
        int tailFrom = Math.max(from, length - 400);
        return new String(retained, tailFrom, length - tailFrom, StandardCharsets.UTF_8);
    }

    /**
     * Like {@link #waitFor(String, Duration)} for the first match of {@code pattern} in output not
     * yet consumed (decoded as UTF-8): consumes through the match and returns it, groups included.
     * Each new output re-scans what is unconsumed, so this suits banners and prompts, not
     * megabytes of output.
     *
     * <pre>{@code
     * MatchResult m = vm.console().waitForMatch(Pattern.compile("listening on port (\\d+)"), Duration.ofSeconds(5));
     * int port = Integer.parseInt(m.group(1));
     * }</pre>
     *
     * @throws ConsoleTimeoutException if nothing matches within {@code timeout}; the message
     *     shows the tail of what did arrive
     * @throws IllegalVmStateException at once if nothing matched and nothing more can come: the
     *     VM exited or was closed
     */
    public MatchResult waitForMatch(Pattern pattern, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (this) {
            while (true) {
                long from = Math.max(consumed, retainedStart);
                int start = (int) (from - retainedStart);
                String text = new String(retained, start, length - start, StandardCharsets.UTF_8);
                Matcher m = pattern.matcher(text);
                if (m.find()) {
                    // Exact for valid UTF-8; never past what arrived when malformed bytes were replaced.
                    int end = text.substring(0, m.end()).getBytes(StandardCharsets.UTF_8).length;
                    consumed = from + Math.min(end, length - start);
                    return m.toMatchResult();
                }
                awaitMoreOutput(start, deadline, timeout, "/" + pattern + "/",
                        "nothing matching /" + pattern + "/ appeared");
            }
        }
    }

    // ---- used by the VM ----

    /** The VM exited or closed: no more output can come, waiters stop waiting. */
    synchronized void end(VmState state) {
        if (ended != VmState.CLOSED) {
            ended = state;
        }
        notifyAll();
    }

    /** Called by the UART for every byte the guest transmits. */
    void emit(byte[] bytes, int off, int len) {
        synchronized (this) {
            append(bytes, off, len);
            notifyAll();
        }
        byte[] copy = null;
        for (OutputStream s : sinks) {
            try {
                s.write(bytes, off, len);
                s.flush();
            } catch (IOException e) {
                throw new UncheckedIOException("console output stream failed", e);
            }
        }
        if (!listeners.isEmpty()) {
            copy = Arrays.copyOfRange(bytes, off, off + len);
            for (Consumer<byte[]> l : listeners) {
                l.accept(copy);
            }
        }
    }

    synchronized int pollInput() {
        Byte b = input.pollFirst();
        return b == null ? -1 : b & 0xff;
    }

    synchronized boolean hasInput() {
        return !input.isEmpty();
    }

    void onInput(Runnable r) {
        inputAvailable = r;
    }

    private void append(byte[] b, int off, int len) {
        if (length + len > retained.length) {
            if (length + len > RETAINED_BYTES) {
                int drop = Math.min(length, length + len - RETAINED_BYTES);
                System.arraycopy(retained, drop, retained, 0, length - drop);
                length -= drop;
                retainedStart += drop;
            }
            if (length + len > retained.length) {
                retained = Arrays.copyOf(retained, Math.max(retained.length * 2, length + len));
            }
        }
        System.arraycopy(b, off, retained, length, len);
        length += len;
    }

    private int indexOf(byte[] needle, int from) {
        outer:
        for (int i = Math.max(0, from); i <= length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (retained[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
