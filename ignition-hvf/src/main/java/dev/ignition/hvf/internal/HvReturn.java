package dev.ignition.hvf.internal;

import org.jspecify.annotations.Nullable;

/**
 * The arm64 {@code hv_return_t} codes of {@code arm64/hv/hv_kern_types.h}:
 * {@code err_local | err_sub(0xba5) | n}, a 32-bit {@code mach_error_t}. On arm64 0xfae94008 is
 * {@code HV_EXISTS} (x86's header and some bindings call it HV_FAULT).
 */
public enum HvReturn {
    HV_SUCCESS(0, "success"),
    HV_ERROR(0xfae94001, "generic error"),
    HV_BUSY(0xfae94002, "busy (one VM per process, or the resource is in use)"),
    HV_BAD_ARGUMENT(0xfae94003, "bad argument"),
    HV_ILLEGAL_GUEST_STATE(0xfae94004, "illegal guest state"),
    HV_NO_RESOURCES(0xfae94005, "no resources"),
    HV_NO_DEVICE(0xfae94006, "no device (no hypervisor support on this machine)"),
    HV_DENIED(0xfae94007, "denied (usually the missing com.apple.security.hypervisor entitlement)"),
    HV_EXISTS(0xfae94008, "already exists"),
    HV_UNSUPPORTED(0xfae9400f, "unsupported");

    private final int code;
    private final String meaning;

    HvReturn(int code, String meaning) {
        this.code = code;
        this.meaning = meaning;
    }

    public int code() {
        return code;
    }

    public String meaning() {
        return meaning;
    }

    /** The constant for {@code code}, or null for a code the header does not list. */
    public static @Nullable HvReturn of(int code) {
        for (HvReturn r : values()) {
            if (r.code == code) {
                return r;
            }
        }
        return null;
    }

    /** {@code HV_BUSY}-style name, or {@code hv_return_t 0x...} for an unknown code. */
    public static String nameOf(int code) {
        HvReturn r = of(code);
        return r != null ? r.name() : String.format("hv_return_t 0x%08x", code);
    }
}
