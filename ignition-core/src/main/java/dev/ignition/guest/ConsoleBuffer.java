package dev.ignition.guest;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * A {@link ConsoleLink} over any byte transport: feed it the guest's output with
 * {@link #accept(byte[])} (for example as a console listener) and it sends input through the
 * given sink.
 *
 * <pre>{@code
 * ConsoleBuffer buffer = new ConsoleBuffer(bytes -> serialIn.write(bytes));
 * // wire buffer::accept to the console output, then:
 * ShellSession shell = ShellSession.open(buffer, Duration.ofSeconds(30));
 * }</pre>
 *
 * <p>Keeps at most {@link #RETAINED_BYTES} of unconsumed output; older output is dropped.
 */
public final class ConsoleBuffer implements ConsoleLink {
    /** Unconsumed output kept for {@link #awaitText}. */
    public static final int RETAINED_BYTES = 16 << 20;

    private final Consumer<byte[]> sender;
    private byte[] buf = new byte[8192];
    private int length;

    /** @param sender receives every byte sent to the guest */
    public ConsoleBuffer(Consumer<byte[]> sender) {
        this.sender = sender;
    }

    /** Appends guest output. Thread-safe; wakes waiters. */
    public synchronized void accept(byte[] output) {
        if (length + output.length > RETAINED_BYTES) {
            int drop = Math.min(length, length + output.length - RETAINED_BYTES);
            System.arraycopy(buf, drop, buf, 0, length - drop);
            length -= drop;
            if (output.length > RETAINED_BYTES) {
                output = Arrays.copyOfRange(output, output.length - RETAINED_BYTES, output.length);
            }
        }
        if (length + output.length > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, length + output.length));
        }
        System.arraycopy(output, 0, buf, length, output.length);
        length += output.length;
        notifyAll();
    }

    @Override
    public void send(byte[] bytes) {
        sender.accept(bytes.clone());
    }

    @Override
    public synchronized @Nullable String awaitText(String text, Duration timeout) {
        byte[] needle = text.getBytes(StandardCharsets.UTF_8);
        long deadline = System.nanoTime() + timeout.toNanos();
        int searched = 0;
        while (true) {
            int at = indexOf(needle, Math.max(0, searched - needle.length + 1));
            if (at >= 0) {
                int end = at + needle.length;
                String consumed = new String(buf, 0, end, StandardCharsets.UTF_8);
                System.arraycopy(buf, end, buf, 0, length - end);
                length -= end;
                return consumed;
            }
            searched = length;
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return null;
            }
            try {
                wait(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
    }

    /** Unconsumed output, decoded as UTF-8 (for diagnostics). */
    public synchronized String pending() {
        return new String(buf, 0, length, StandardCharsets.UTF_8);
    }

    private int indexOf(byte[] needle, int from) {
        outer:
        for (int i = from; i <= length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (buf[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
