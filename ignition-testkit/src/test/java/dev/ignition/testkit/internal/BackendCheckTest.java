package dev.ignition.testkit.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.Availability;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;

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
}
