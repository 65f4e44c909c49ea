package dev.ignition.internal.arm64;

/**
 * PSCI (Arm DEN 0022) function IDs, return codes and call decoding, as Linux
 * {@code include/uapi/linux/psci.h} numbers them. Ignition implements PSCI 1.0 over HVC.
 */
public final class Psci {
    public static final int VERSION = 0x8400_0000;
    public static final int CPU_SUSPEND_32 = 0x8400_0001;
    public static final int CPU_SUSPEND_64 = 0xC400_0001;
    public static final int CPU_OFF = 0x8400_0002;
    public static final int CPU_ON_32 = 0x8400_0003;
    public static final int CPU_ON_64 = 0xC400_0003;
    public static final int AFFINITY_INFO_32 = 0x8400_0004;
    public static final int AFFINITY_INFO_64 = 0xC400_0004;
    public static final int MIGRATE_INFO_TYPE = 0x8400_0006;
    public static final int SYSTEM_OFF = 0x8400_0008;
    public static final int SYSTEM_RESET = 0x8400_0009;
    public static final int FEATURES = 0x8400_000A;

    public static final long SUCCESS = 0;
    public static final long NOT_SUPPORTED = -1;
    public static final long INVALID_PARAMETERS = -2;
    public static final long DENIED = -3;
    public static final long ALREADY_ON = -4;
    public static final long ON_PENDING = -5;
    public static final long INTERNAL_FAILURE = -6;

    /** PSCI 1.0, encoded {@code major << 16 | minor}. */
    public static final long VERSION_1_0 = 0x1_0000;
    /** MIGRATE_INFO_TYPE: no trusted OS that needs migrating. */
    public static final long TOS_NOT_PRESENT_MP = 2;
    /** AFFINITY_INFO answers. */
    public static final long AFFINITY_ON = 0;
    public static final long AFFINITY_OFF = 1;
    public static final long AFFINITY_ON_PENDING = 2;

    private Psci() {}

    /** A decoded PSCI call. */
    public sealed interface Call {
        record Version() implements Call {}
        record Features(int function) implements Call {}
        record CpuOn(long targetMpidr, long entry, long contextId) implements Call {}
        record CpuOff() implements Call {}
        record AffinityInfo(long targetMpidr, int lowestLevel) implements Call {}
        record MigrateInfoType() implements Call {}
        record SystemOff() implements Call {}
        record SystemReset() implements Call {}
        /** Anything else, answered with {@link #NOT_SUPPORTED} (SMCCC says so for unknown IDs). */
        record Unsupported(int function) implements Call {}
    }

    /**
     * Decodes a call from the guest's {@code x0..x3}. 32-bit calling-convention arguments use the
     * low 32 bits of their registers only.
     */
    public static Call decode(long x0, long x1, long x2, long x3) {
        int fn = (int) x0;
        return switch (fn) {
            case VERSION -> new Call.Version();
            case FEATURES -> new Call.Features((int) x1);
            case CPU_ON_64 -> new Call.CpuOn(x1, x2, x3);
            case CPU_ON_32 -> new Call.CpuOn(x1 & 0xffff_ffffL, x2 & 0xffff_ffffL, x3 & 0xffff_ffffL);
            case CPU_OFF -> new Call.CpuOff();
            case AFFINITY_INFO_64 -> new Call.AffinityInfo(x1, (int) x2);
            case AFFINITY_INFO_32 -> new Call.AffinityInfo(x1 & 0xffff_ffffL, (int) x2);
            case MIGRATE_INFO_TYPE -> new Call.MigrateInfoType();
            case SYSTEM_OFF -> new Call.SystemOff();
            case SYSTEM_RESET -> new Call.SystemReset();
            default -> new Call.Unsupported(fn);
        };
    }

    /** PSCI_FEATURES: 0 for the functions Ignition implements, NOT_SUPPORTED otherwise. */
    public static long features(int function) {
        return switch (function) {
            case VERSION, FEATURES, CPU_ON_32, CPU_ON_64, CPU_OFF, AFFINITY_INFO_32, AFFINITY_INFO_64,
                 MIGRATE_INFO_TYPE, SYSTEM_OFF, SYSTEM_RESET -> SUCCESS;
            default -> NOT_SUPPORTED;
        };
    }
}
