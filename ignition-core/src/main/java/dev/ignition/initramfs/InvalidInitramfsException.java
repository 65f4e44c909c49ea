package dev.ignition.initramfs;

import dev.ignition.IgnitionException;
import java.io.Serial;
import java.util.List;

/** An initramfs could not be built: every problem found is listed in the message. */
public final class InvalidInitramfsException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;

    private final transient List<String> problems;

    public InvalidInitramfsException(List<String> problems) {
        super("invalid initramfs: " + String.join("; ", problems));
        this.problems = List.copyOf(problems);
    }

    /** The problems, one sentence each. */
    public List<String> problems() {
        return problems;
    }
}
