package dev.ignition.junit.fake;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VirtualMachine;
import dev.ignition.guest.TestGuests;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Which devices the VM offers the backend's edge line (KVM: irqfd): the virtio devices, on their
 * edge-triggered IOAPIC pins, and no other; without one it keeps {@code setIrqLine}.
 */
class EdgeInterruptLineSelectionTest {
    @AfterEach
    void reset() {
        FakeProvider.offerEdgeLines = false;
        FakeProvider.EDGE_LINE_REQUESTS.clear();
    }

    @Test
    void virtioDevicesAskForEdgeLinesTheUartDoesNot() {
        FakeProvider.offerEdgeLines = true;
        FakeProvider.EDGE_LINE_REQUESTS.clear();
        try (VirtualMachine vm = VirtualMachine.builder().guest(TestGuests.echo()).backend(FakeProvider.NAME)
                .virtioRng().vsock(3).build()) {
            // slot 0 (rng) on pin 5, slot 1 (vsock) on pin 6; the UART's IRQ 4 stays on setIrqLine
            assertThat(FakeProvider.EDGE_LINE_REQUESTS).containsExactly(5, 6);
        }
    }

    @Test
    void withoutEdgeLinesTheVmStillBuildsOnSetIrqLine() {
        FakeProvider.EDGE_LINE_REQUESTS.clear();
        try (VirtualMachine vm = VirtualMachine.builder().guest(TestGuests.echo()).backend(FakeProvider.NAME)
                .virtioRng().build()) {
            assertThat(FakeProvider.EDGE_LINE_REQUESTS).containsExactly(5);
            assertThat(vm).isNotNull();
        }
    }
}
