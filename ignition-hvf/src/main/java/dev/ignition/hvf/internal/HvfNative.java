package dev.ignition.hvf.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.Locale;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * Every native symbol of the backend, bound once through FFM with the signatures of the macOS 15
 * SDK headers ({@code hv_vm.h}, {@code hv_vm_config.h}, {@code hv_vcpu.h}, {@code hv_gic*.h}).
 *
 * <p>The framework is opened lazily, the first time {@link Symbols} is touched, so this class
 * loads on any OS; {@link #probe()} says why it cannot be used here.
 *
 * <p>ABI notes: {@code hv_return_t} is a 32-bit {@code int}; {@code hv_vcpu_t}, {@code hv_ipa_t},
 * {@code hv_memory_flags_t} and {@code size_t} are 64-bit; {@code hv_reg_t},
 * {@code hv_simd_fp_reg_t} and {@code hv_gic_redistributor_reg_t} are {@code uint32_t}. The
 * {@code uint16_t} enums ({@code hv_sys_reg_t}, {@code hv_gic_icc_reg_t},
 * {@code hv_gic_distributor_reg_t}, {@code hv_gic_intid_t}) are passed as {@code JAVA_INT}
 * holding the zero-extended value: Apple's arm64 ABI has the caller extend sub-32-bit arguments,
 * and a {@code JAVA_SHORT} would sign-extend 0xc080. {@code hv_vcpu_set_simd_fp_reg} takes a
 * 16-byte vector by value in a SIMD register, which no FFM layout expresses; it is deliberately
 * not bound (see {@link SimdRestore}).
 */
public final class HvfNative {
    /** Install name of the framework binary (in the dyld shared cache, not on disk, since Big Sur). */
    public static final String FRAMEWORK = "/System/Library/Frameworks/Hypervisor.framework/Versions/A/Hypervisor";
    static final String LIBSYSTEM = "/usr/lib/libSystem.B.dylib";

    /** {@code hv_vcpu_exit_t}: reason (u32) + padding, then the 24-byte exception struct. */
    public static final StructLayout EXIT_LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("reason"),
            MemoryLayout.paddingLayout(4),
            MemoryLayout.structLayout(
                    JAVA_LONG.withName("syndrome"),
                    JAVA_LONG.withName("virtual_address"),
                    JAVA_LONG.withName("physical_address")).withName("exception"));
    static final VarHandle EXIT_REASON = EXIT_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("reason"));
    static final VarHandle EXIT_SYNDROME = EXIT_LAYOUT.varHandle(
            MemoryLayout.PathElement.groupElement("exception"), MemoryLayout.PathElement.groupElement("syndrome"));
    static final VarHandle EXIT_VA = EXIT_LAYOUT.varHandle(
            MemoryLayout.PathElement.groupElement("exception"), MemoryLayout.PathElement.groupElement("virtual_address"));
    static final VarHandle EXIT_PA = EXIT_LAYOUT.varHandle(
            MemoryLayout.PathElement.groupElement("exception"), MemoryLayout.PathElement.groupElement("physical_address"));

    /** {@code mach_timebase_info_data_t}: numer, denom. */
    static final StructLayout TIMEBASE_LAYOUT = MemoryLayout.structLayout(
            JAVA_INT.withName("numer"), JAVA_INT.withName("denom"));

    // Descriptors, one per C signature; every hv_* function returns hv_return_t (JAVA_INT).
    static final FunctionDescriptor RET_VOID = FunctionDescriptor.of(JAVA_INT);
    static final FunctionDescriptor RET_PTR = FunctionDescriptor.of(JAVA_INT, ADDRESS);
    static final FunctionDescriptor RET_PTR_PTR = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS);
    static final FunctionDescriptor RET_PTR_INT = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT);
    static final FunctionDescriptor RET_PTR_LONG = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG);
    static final FunctionDescriptor RET_LONG = FunctionDescriptor.of(JAVA_INT, JAVA_LONG);
    static final FunctionDescriptor RET_LONG_PTR = FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS);
    static final FunctionDescriptor RET_LONG_LONG = FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG);
    static final FunctionDescriptor RET_LONG_BOOL = FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_BOOLEAN);
    static final FunctionDescriptor RET_LONG_INT_PTR = FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, ADDRESS);
    static final FunctionDescriptor RET_LONG_INT_LONG = FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG);
    static final FunctionDescriptor RET_INT_PTR = FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS);
    static final FunctionDescriptor RET_INT_LONG = FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG);
    static final FunctionDescriptor RET_INT_BOOL = FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_BOOLEAN);
    static final FunctionDescriptor OBJECT_CREATE = FunctionDescriptor.of(ADDRESS);
    static final FunctionDescriptor VM_MAP = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    static final FunctionDescriptor VM_PROTECT = FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    static final FunctionDescriptor VCPU_CREATE = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    static final FunctionDescriptor VOID_PTR = FunctionDescriptor.ofVoid(ADDRESS);
    static final FunctionDescriptor LONG_VOID = FunctionDescriptor.of(JAVA_LONG);

    private HvfNative() {}

    /**
     * Whether this JVM can use the framework at all, and if not why, in words a user can act on.
     * Never throws.
     */
    public static Optional<String> probe() {
        String os = System.getProperty("os.name", "");
        String arch = System.getProperty("os.arch", "");
        if (!os.toLowerCase(Locale.ROOT).contains("mac")) {
            return Optional.of("not macOS (this is " + os + " " + arch
                    + "): Hypervisor.framework exists only on macOS on Apple silicon");
        }
        if (!arch.equals("aarch64") && !arch.equals("arm64")) {
            return Optional.of("not macOS arm64 (this JVM runs as " + arch + "): Ignition's hvf backend needs "
                    + "Apple silicon and an arm64 JDK; an x86_64 JDK under Rosetta cannot use the arm64 API");
        }
        try {
            Symbols.check();
        } catch (ExceptionInInitializerError | NoClassDefFoundError | IllegalArgumentException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            return Optional.of("Hypervisor.framework could not be opened (" + cause.getMessage() + ")");
        }
        if (Symbols.GIC_CREATE == null) {
            return Optional.of("macOS 15 or newer is required: this Hypervisor.framework has no hv_gic_create "
                    + "(the in-framework GICv3 Ignition uses)");
        }
        return Optional.empty();
    }

    /** Throws {@link HvfCallException} naming {@code call} unless {@code rc} is HV_SUCCESS. */
    static void check(String call, int rc) {
        if (rc != 0) {
            throw new HvfCallException(call, rc);
        }
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException re) {
            return re;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException("unexpected checked exception from a native call", t);
    }

    /**
     * The bound functions. Initialising this class opens the framework; it fails (with an
     * {@link IllegalArgumentException} inside the initializer error) where there is none.
     */
    static final class Symbols {
        private static final Linker LINKER = Linker.nativeLinker();
        // libraryLookup(String) hands the name to dlopen, which finds the framework in the dyld
        // shared cache; libraryLookup(Path) would fail because the file is not on disk.
        private static final SymbolLookup HV = SymbolLookup.libraryLookup(FRAMEWORK, Arena.global());
        private static final SymbolLookup SYSTEM = libSystem();

        // VM (macOS 11 unless noted)
        static final MethodHandle VM_GET_MAX_VCPU_COUNT = required("hv_vm_get_max_vcpu_count", RET_PTR);
        static final MethodHandle VM_CREATE = required("hv_vm_create", RET_PTR);
        static final MethodHandle VM_DESTROY = required("hv_vm_destroy", RET_VOID);
        static final MethodHandle VM_MAP_H = required("hv_vm_map", VM_MAP);
        static final MethodHandle VM_UNMAP = required("hv_vm_unmap", RET_LONG_LONG);
        static final MethodHandle VM_PROTECT_H = required("hv_vm_protect", VM_PROTECT);
        // VM config (13.0)
        static final @Nullable MethodHandle VM_CONFIG_CREATE = optional("hv_vm_config_create", OBJECT_CREATE);
        static final @Nullable MethodHandle VM_CONFIG_GET_MAX_IPA_SIZE = optional("hv_vm_config_get_max_ipa_size", RET_PTR);
        static final @Nullable MethodHandle VM_CONFIG_GET_DEFAULT_IPA_SIZE =
                optional("hv_vm_config_get_default_ipa_size", RET_PTR);
        static final @Nullable MethodHandle VM_CONFIG_SET_IPA_SIZE = optional("hv_vm_config_set_ipa_size", RET_PTR_INT);
        // vCPU
        static final MethodHandle VCPU_CREATE_H = required("hv_vcpu_create", VCPU_CREATE);
        static final MethodHandle VCPU_DESTROY = required("hv_vcpu_destroy", RET_LONG);
        static final MethodHandle VCPU_RUN = required("hv_vcpu_run", RET_LONG); // blocks: never critical
        static final MethodHandle VCPUS_EXIT = required("hv_vcpus_exit", RET_PTR_INT);
        static final MethodHandle VCPU_GET_REG = required("hv_vcpu_get_reg", RET_LONG_INT_PTR);
        static final MethodHandle VCPU_SET_REG = required("hv_vcpu_set_reg", RET_LONG_INT_LONG);
        static final MethodHandle VCPU_GET_SIMD_FP_REG = required("hv_vcpu_get_simd_fp_reg", RET_LONG_INT_PTR);
        static final MethodHandle VCPU_GET_SYS_REG = required("hv_vcpu_get_sys_reg", RET_LONG_INT_PTR);
        static final MethodHandle VCPU_SET_SYS_REG = required("hv_vcpu_set_sys_reg", RET_LONG_INT_LONG);
        static final MethodHandle VCPU_GET_VTIMER_OFFSET = required("hv_vcpu_get_vtimer_offset", RET_LONG_PTR);
        static final MethodHandle VCPU_SET_VTIMER_OFFSET = required("hv_vcpu_set_vtimer_offset", RET_LONG_LONG);
        static final MethodHandle VCPU_SET_VTIMER_MASK = required("hv_vcpu_set_vtimer_mask", RET_LONG_BOOL);
        // GIC (15.0)
        static final @Nullable MethodHandle GIC_CONFIG_CREATE = optional("hv_gic_config_create", OBJECT_CREATE);
        static final @Nullable MethodHandle GIC_CONFIG_SET_DISTRIBUTOR_BASE =
                optional("hv_gic_config_set_distributor_base", RET_PTR_LONG);
        static final @Nullable MethodHandle GIC_CONFIG_SET_REDISTRIBUTOR_BASE =
                optional("hv_gic_config_set_redistributor_base", RET_PTR_LONG);
        static final @Nullable MethodHandle GIC_CREATE = optional("hv_gic_create", RET_PTR);
        static final @Nullable MethodHandle GIC_SET_SPI = optional("hv_gic_set_spi", RET_INT_BOOL);
        static final @Nullable MethodHandle GIC_GET_REDISTRIBUTOR_BASE =
                optional("hv_gic_get_redistributor_base", RET_LONG_PTR);
        static final @Nullable MethodHandle GIC_GET_ICC_REG = optional("hv_gic_get_icc_reg", RET_LONG_INT_PTR);
        static final @Nullable MethodHandle GIC_SET_ICC_REG = optional("hv_gic_set_icc_reg", RET_LONG_INT_LONG);
        static final @Nullable MethodHandle GIC_GET_DISTRIBUTOR_REG = optional("hv_gic_get_distributor_reg", RET_INT_PTR);
        static final @Nullable MethodHandle GIC_SET_DISTRIBUTOR_REG = optional("hv_gic_set_distributor_reg", RET_INT_LONG);
        static final @Nullable MethodHandle GIC_GET_REDISTRIBUTOR_REG =
                optional("hv_gic_get_redistributor_reg", RET_LONG_INT_PTR);
        static final @Nullable MethodHandle GIC_SET_REDISTRIBUTOR_REG =
                optional("hv_gic_set_redistributor_reg", RET_LONG_INT_LONG);
        static final @Nullable MethodHandle GIC_SET_STATE = optional("hv_gic_set_state", RET_PTR_LONG);
        static final @Nullable MethodHandle GIC_STATE_CREATE = optional("hv_gic_state_create", OBJECT_CREATE);
        static final @Nullable MethodHandle GIC_STATE_GET_SIZE = optional("hv_gic_state_get_size", RET_PTR_PTR);
        static final @Nullable MethodHandle GIC_STATE_GET_DATA = optional("hv_gic_state_get_data", RET_PTR_PTR);
        static final @Nullable MethodHandle GIC_GET_DISTRIBUTOR_SIZE = optional("hv_gic_get_distributor_size", RET_PTR);
        static final @Nullable MethodHandle GIC_GET_DISTRIBUTOR_BASE_ALIGNMENT =
                optional("hv_gic_get_distributor_base_alignment", RET_PTR);
        static final @Nullable MethodHandle GIC_GET_REDISTRIBUTOR_REGION_SIZE =
                optional("hv_gic_get_redistributor_region_size", RET_PTR);
        static final @Nullable MethodHandle GIC_GET_REDISTRIBUTOR_SIZE = optional("hv_gic_get_redistributor_size", RET_PTR);
        static final @Nullable MethodHandle GIC_GET_REDISTRIBUTOR_BASE_ALIGNMENT =
                optional("hv_gic_get_redistributor_base_alignment", RET_PTR);
        static final @Nullable MethodHandle GIC_GET_SPI_INTERRUPT_RANGE =
                optional("hv_gic_get_spi_interrupt_range", RET_PTR_PTR);
        static final @Nullable MethodHandle GIC_GET_INTID = optional("hv_gic_get_intid", RET_INT_PTR);
        // libSystem
        static final MethodHandle OS_RELEASE = LINKER.downcallHandle(
                SYSTEM.find("os_release").orElseThrow(() -> new IllegalArgumentException("libSystem has no os_release")),
                VOID_PTR);
        static final MethodHandle MACH_ABSOLUTE_TIME = LINKER.downcallHandle(
                SYSTEM.find("mach_absolute_time").orElseThrow(
                        () -> new IllegalArgumentException("libSystem has no mach_absolute_time")),
                LONG_VOID, Linker.Option.critical(false));
        static final MethodHandle MACH_TIMEBASE_INFO = LINKER.downcallHandle(
                SYSTEM.find("mach_timebase_info").orElseThrow(
                        () -> new IllegalArgumentException("libSystem has no mach_timebase_info")),
                FunctionDescriptor.of(JAVA_INT, ADDRESS));

        private Symbols() {}

        /** Forces initialisation. */
        static void check() {
            // Touching a static field runs the initializer (and its failures) exactly once.
            if (VM_CREATE == null) {
                throw new IllegalStateException("unreachable");
            }
        }

        private static SymbolLookup libSystem() {
            try {
                return SymbolLookup.libraryLookup(LIBSYSTEM, Arena.global());
            } catch (IllegalArgumentException e) {
                return LINKER.defaultLookup();
            }
        }

        private static MethodHandle required(String name, FunctionDescriptor fd) {
            return LINKER.downcallHandle(HV.find(name).orElseThrow(
                    () -> new IllegalArgumentException("Hypervisor.framework has no " + name)), fd);
        }

        private static @Nullable MethodHandle optional(String name, FunctionDescriptor fd) {
            return HV.find(name).map(a -> LINKER.downcallHandle(a, fd)).orElse(null);
        }
    }
}
