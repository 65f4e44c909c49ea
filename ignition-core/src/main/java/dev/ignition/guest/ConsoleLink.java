package dev.ignition.guest;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * Both directions of a serial console, as a {@link ShellSession} needs them: send bytes to the
 * guest, and wait for text in what the guest printed. A VM's console provides one; tests provide
 * a scripted shell.
 */
public interface ConsoleLink {
    /** Sends {@code bytes} to the guest's console input. */
    void send(byte[] bytes);

    /**
     * Waits until {@code text} appears in output not yet consumed, consumes the output through it
     * and returns what was consumed (ending with {@code text}), decoded as UTF-8.
     *
     * @return the consumed output, or {@code null} if {@code text} did not appear within {@code timeout}
     *     (then nothing is consumed)
     */
    @Nullable String awaitText(String text, Duration timeout);
}
