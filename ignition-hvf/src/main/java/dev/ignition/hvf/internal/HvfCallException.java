package dev.ignition.hvf.internal;

import dev.ignition.NativeCallException;
import java.io.Serial;

/** A Hypervisor.framework call returned something other than {@code HV_SUCCESS}. */
public class HvfCallException extends NativeCallException {
    @Serial private static final long serialVersionUID = 1L;

    public HvfCallException(String call, int hvReturn) {
        this(call, hvReturn, "");
    }

    public HvfCallException(String call, int hvReturn, String advice) {
        super(call, hvReturn, HvReturn.nameOf(hvReturn), describe(hvReturn, advice));
    }

    /** The raw {@code hv_return_t}. */
    public int hvReturn() {
        return (int) code();
    }

    private static String describe(int code, String advice) {
        HvReturn r = HvReturn.of(code);
        String base = String.format("0x%08x", code) + (r == null ? "" : ", " + r.meaning());
        return advice.isEmpty() ? base : base + "; " + advice;
    }
}
