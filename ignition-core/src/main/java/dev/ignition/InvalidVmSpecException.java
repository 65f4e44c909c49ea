package dev.ignition;

import java.io.Serial;
import java.util.List;

/** {@link VirtualMachine.Builder#build()} found problems; {@link #problems()} lists every one. */
public final class InvalidVmSpecException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;
    private final List<String> problems;

    public InvalidVmSpecException(List<String> problems) {
        super("invalid virtual machine spec: " + String.join("; ", problems));
        this.problems = List.copyOf(problems);
    }

    /** Each problem as one sentence, in the order they were found. */
    public List<String> problems() {
        return problems;
    }
}
