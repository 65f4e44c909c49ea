package dev.ignition.hvf.internal;

import java.io.Serial;

/**
 * {@code hv_vm_create} refused with {@code HV_DENIED} or {@code HV_UNSUPPORTED}: on a Mac that
 * supports virtualization this means the process's executable lacks the
 * {@code com.apple.security.hypervisor} entitlement. The message carries the exact fix.
 */
public final class HvfEntitlementException extends HvfCallException {
    @Serial private static final long serialVersionUID = 1L;

    /** What to do, in the words the exception message uses. */
    public static String fix(String javaExecutable) {
        return "the java executable (" + javaExecutable + ") is not signed with the "
                + "com.apple.security.hypervisor entitlement. Fix: run scripts/macos-sign-java.sh \""
                + javaExecutable + "\" from the Ignition repository, which runs "
                + "codesign --entitlements <plist with com.apple.security.hypervisor = true> --force -s - \""
                + javaExecutable + "\" (see docs/macos.md); then start the JVM again. If it is signed, "
                + "check that this is an arm64 JDK (not x86_64 under Rosetta) and that the Mac is not "
                + "itself a VM without nested virtualization";
    }

    public HvfEntitlementException(String call, int hvReturn, String javaExecutable) {
        super(call, hvReturn, fix(javaExecutable));
    }
}
