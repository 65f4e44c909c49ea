package dev.ignition.hvf.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.ignition.Availability;
import dev.ignition.BackendUnavailableException;
import dev.ignition.spi.Architecture;
import dev.ignition.spi.HypervisorProvider;
import dev.ignition.spi.VmConfig;
import java.lang.foreign.MemoryLayout.PathElement;
import java.util.ServiceLoader;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;

class HvfNativeTest {
    static boolean onMacArm64() {
        return System.getProperty("os.name").toLowerCase().contains("mac")
                && System.getProperty("os.arch").equals("aarch64");
    }

    @Test
    void exitRecordLayoutMatchesTheHeader() {
        assertThat(HvfNative.EXIT_LAYOUT.byteSize()).isEqualTo(32);
        assertThat(HvfNative.EXIT_LAYOUT.byteAlignment()).isEqualTo(8);
        assertThat(HvfNative.EXIT_LAYOUT.byteOffset(PathElement.groupElement("reason"))).isZero();
        assertThat(HvfNative.EXIT_LAYOUT.byteOffset(PathElement.groupElement("exception"),
                PathElement.groupElement("syndrome"))).isEqualTo(8);
        assertThat(HvfNative.EXIT_LAYOUT.byteOffset(PathElement.groupElement("exception"),
                PathElement.groupElement("virtual_address"))).isEqualTo(16);
        assertThat(HvfNative.EXIT_LAYOUT.byteOffset(PathElement.groupElement("exception"),
                PathElement.groupElement("physical_address"))).isEqualTo(24);
    }

    @Test
    void returnCodesAreTheArm64Values() {
        assertThat(HvReturn.HV_ERROR.code()).isEqualTo(-85377023);
        assertThat(HvReturn.HV_DENIED.code()).isEqualTo(0xfae94007);
        assertThat(HvReturn.HV_UNSUPPORTED.code()).isEqualTo(0xfae9400f);
        assertThat(HvReturn.nameOf(0xfae94008)).isEqualTo("HV_EXISTS");
        assertThat(HvReturn.nameOf(0x1234)).isEqualTo("hv_return_t 0x00001234");
        HvfCallException e = new HvfCallException("hv_vm_map(ipa=0x40000000)", HvReturn.HV_BAD_ARGUMENT.code());
        assertThat(e.getMessage()).isEqualTo("hv_vm_map(ipa=0x40000000) failed: HV_BAD_ARGUMENT (0xfae94003, bad argument)");
        assertThat(e.call()).isEqualTo("hv_vm_map(ipa=0x40000000)");
    }

    @Test
    void missingEntitlementNamesTheExactFix() {
        HvfEntitlementException e = new HvfEntitlementException("hv_vm_create", HvReturn.HV_DENIED.code(),
                "/Library/Java/JavaVirtualMachines/jdk-25/Contents/Home/bin/java");
        assertThat(e.getMessage()).startsWith("hv_vm_create failed: HV_DENIED")
                .contains("com.apple.security.hypervisor")
                .contains("scripts/macos-sign-java.sh \"/Library/Java/JavaVirtualMachines/jdk-25/Contents/Home/bin/java\"")
                .contains("codesign --entitlements")
                .contains("--force -s -");
    }

    @Test
    void entitlementProbeReportsTheRefusal() {
        FakeHvf denied = new FakeHvf() {
            @Override
            public void vmCreate(int ipaBits) {
                throw new HvfEntitlementException("hv_vm_create", HvReturn.HV_UNSUPPORTED.code(), "/x/bin/java");
            }
        };
        Availability a = new HvfProvider().probeEntitlement(denied);
        assertThat(a.available()).isFalse();
        assertThat(a.reason()).contains("HV_UNSUPPORTED").contains("codesign");
        Availability ok = new HvfProvider().probeEntitlement(new FakeHvf());
        assertThat(ok.available()).isTrue();
    }

    @Test
    void bindingsLoadAnywhereAndTheProbeExplainsThisHost() {
        assumeFalse(onMacArm64(), "on macOS arm64 the hvf-tagged tests cover the real framework");
        assertThat(HvfNative.probe()).hasValueSatisfying(reason -> assertThat(reason).startsWith("not macOS"));
    }

    @Test
    void serviceLoaderFindsTheProviderAndItExplainsWhyItCannotRunHere() {
        assumeFalse(onMacArm64(), "on macOS arm64 the hvf-tagged tests cover the real framework");
        HypervisorProvider p = ServiceLoader.load(HypervisorProvider.class).stream().map(ServiceLoader.Provider::get)
                .filter(x -> x.name().equals("hvf")).findFirst().orElseThrow();
        assertThat(p.architecture()).isEqualTo(Architecture.ARM64);
        Availability a = p.availability();
        assertThat(a.available()).isFalse();
        assertThat(a.reason()).contains("not macOS");
        try (var mem = TestVms.memory(HvfVm.PAGE)) {
            Assertions.assertThatThrownBy(() -> p.createVm(new VmConfig(mem, 1, false)))
                    .isInstanceOf(BackendUnavailableException.class).hasMessageContaining("hvf: not macOS");
        }
    }
}
