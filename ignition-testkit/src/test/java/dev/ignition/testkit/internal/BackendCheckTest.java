package dev.ignition.testkit.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.Availability;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;

class BackendCheckTest {
    private static final Availability KVM_MISSING = Availability.unavailable("kvm", "/dev/kvm does not exist");
    private static final Availability NONE = Availability.unavailable("none", "kvm: /dev/kvm does not exist");

    @Test
    void anAvailableBackendEnablesWhateverIsRequired() {
        ConditionEvaluationResult r = BackendCheck.decide(Availability.available("kvm", "KVM API 12"), "kvm");
        assertThat(r.isDisabled()).isFalse();
        assertThat(r.getReason().orElseThrow()).contains("kvm: KVM API 12");
    }

    @Test
    void anUnavailableBackendSkipsWithTheProbesReason() {
        ConditionEvaluationResult r = BackendCheck.decide(KVM_MISSING, null);
        assertThat(r.isDisabled()).isTrue();
        assertThat(r.getReason().orElseThrow()).contains("backend 'kvm' unavailable: /dev/kvm does not exist");
    }

    @Test
    void requiringAnotherBackendStillSkips() {
        assertThat(BackendCheck.decide(KVM_MISSING, "hvf").isDisabled()).isTrue();
        assertThat(BackendCheck.decide(KVM_MISSING, "").isDisabled()).isTrue();
    }

    @Test
    void requiringTheBackendTurnsTheSkipIntoAFailure() {
        assertThatThrownBy(() -> BackendCheck.decide(KVM_MISSING, "hvf, kvm"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("IGNITION_REQUIRE_BACKENDS=hvf, kvm requires backend 'kvm' but it is unavailable:"
                        + " /dev/kvm does not exist");
    }

    @Test
    void whenAnyBackendWouldDoAnyRequirementFails() {
        assertThat(BackendCheck.decide(NONE, null).getReason().orElseThrow()).contains("no backend can run VMs here");
        assertThatThrownBy(() -> BackendCheck.decide(NONE, "kvm"))
                .hasMessageContaining("requires a usable backend but it is unavailable: kvm: /dev/kvm does not exist");
    }

    @Test
    void noBackendOnTheClassPathIsAnErrorThatNamesTheArtifactsToAdd() {
        assertThatThrownBy(() -> BackendCheck.requireOnClassPath(null, List.of()))
                .isInstanceOf(ExtensionConfigurationException.class)
                .hasMessageStartingWith("No Ignition backend is on the test class path")
                .hasMessageContaining("dev.ignition:ignition-kvm (module dev.ignition.kvm) for Linux x86_64")
                .hasMessageContaining("dev.ignition:ignition-hvf (module dev.ignition.hvf) for macOS arm64")
                .hasMessageContaining("<scope>test</scope>");
    }

    @Test
    void aNamedBackendMissingFromTheClassPathIsAnErrorThatNamesItsArtifact() {
        assertThatThrownBy(() -> BackendCheck.requireOnClassPath("kvm", List.of("hvf")))
                .isInstanceOf(ExtensionConfigurationException.class)
                .hasMessageStartingWith("Backend 'kvm' is not on the test class path (found: hvf).")
                .hasMessageEndingWith("dev.ignition:ignition-kvm (module dev.ignition.kvm).");
    }

    @Test
    void backendsOnTheClassPathPassTheCheckWhetherOrNotTheyCanRun() {
        BackendCheck.requireOnClassPath(null, List.of("hvf"));
        BackendCheck.requireOnClassPath("kvm", List.of("hvf", "kvm"));
    }

    @Test
    void theRealClassPathOfThisModuleHasNoBackend() {
        // ignition-testkit's tests depend on no backend: what a user's build without one sees
        assertThatThrownBy(() -> BackendCheck.probe(null)).isInstanceOf(ExtensionConfigurationException.class);
        assertThatThrownBy(() -> BackendCheck.probe("kvm")).hasMessageContaining("(no backend is)");
    }
}
