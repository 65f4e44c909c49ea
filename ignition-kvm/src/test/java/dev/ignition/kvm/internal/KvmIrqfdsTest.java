package dev.ignition.kvm.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ignition.internal.posix.EventFd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Choosing between irqfd and the KVM_IRQ_LINE fallback, without /dev/kvm: what happens when the
 * capability probe says no, when registration fails, and after close.
 */
class KvmIrqfdsTest {
    @Test
    void noCapabilityMeansNoLineSoTheCallerKeepsIrqLine() {
        try (KvmIrqfds irqfds = new KvmIrqfds(-1, false)) {
            assertThat(irqfds.supported()).isFalse();
            assertThat(irqfds.line(5)).isEmpty();
        }
    }

    @Test
    void theProbeOnADescriptorThatIsNoVmSaysNo() {
        assertThat(KvmIrqfds.probe(-1)).isFalse();
    }

    @Test
    void aFailedRegistrationFallsBackAndClosesItsEventfd() throws Exception {
        assumeTrue(EventFd.supported(), "eventfd is Linux-only");
        long before = openEventfds();
        try (KvmIrqfds irqfds = new KvmIrqfds(-1, true)) { // KVM_IRQFD on fd -1: EBADF
            assertThat(irqfds.line(5)).isEmpty();
            assertThat(irqfds.line(5)).isEmpty();
        }
        assertThat(openEventfds()).as("the failed irqfds' eventfds were closed").isEqualTo(before);
    }

    /** Descriptors of this process that are eventfds (Linux: /proc/self/fd links). */
    static long openEventfds() throws IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(p -> {
                try {
                    return Files.readSymbolicLink(p).toString().contains("eventfd");
                } catch (IOException e) {
                    return false; // the directory's own descriptor, gone by now
                }
            }).count();
        }
    }

    @Test
    void afterCloseThereAreNoLines() {
        KvmIrqfds irqfds = new KvmIrqfds(-1, true);
        irqfds.close();
        irqfds.close();
        assertThat(irqfds.line(5)).isEmpty();
    }

    @Test
    void thePropertyDisablesIrqfdsOnlyWhenFalse() {
        assertThat(KvmVm.irqfdsWanted(null)).isTrue();
        assertThat(KvmVm.irqfdsWanted("true")).isTrue();
        assertThat(KvmVm.irqfdsWanted(" FALSE ")).isFalse();
        assertThat(KvmVm.irqfdsWanted("false")).isFalse();
    }
}
