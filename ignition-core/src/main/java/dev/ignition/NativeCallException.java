package dev.ignition;

import java.io.Serial;

/**
 * A native call failed. Names the call (for ioctls, the request), the error code and its symbolic
 * name ({@code errno} on Linux, {@code hv_return_t} on macOS).
 */
public class NativeCallException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;
    private final String call;
    private final long code;
    private final String codeName;

    public NativeCallException(String call, long code, String codeName, String detail) {
        super(call + " failed: " + codeName + (detail.isEmpty() ? "" : " (" + detail + ")"));
        this.call = call;
        this.code = code;
        this.codeName = codeName;
    }

    /** The native call, e.g. {@code ioctl(KVM_CREATE_VM)}. */
    public String call() {
        return call;
    }

    /** The raw error code: errno on Linux, hv_return_t on macOS. */
    public long code() {
        return code;
    }

    /** The symbolic name of {@link #code()}, e.g. {@code EACCES}. */
    public String codeName() {
        return codeName;
    }
}
