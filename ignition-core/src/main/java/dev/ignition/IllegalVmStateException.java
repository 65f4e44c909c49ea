package dev.ignition;

import java.io.Serial;

/** An operation was asked of a VM in a state that does not allow it. */
public final class IllegalVmStateException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;
    private final VmState actual;

    public IllegalVmStateException(String operation, VmState actual) {
        super("cannot " + operation + " a VM that is " + actual);
        this.actual = actual;
    }

    /** With {@code detail} appended to the message (what the user may want to know next). */
    public IllegalVmStateException(String operation, VmState actual, String detail) {
        super("cannot " + operation + " a VM that is " + actual + "; " + detail);
        this.actual = actual;
    }

    public VmState actual() {
        return actual;
    }
}
