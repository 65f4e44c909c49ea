package dev.ignition.kvm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.VmState;
import dev.ignition.guest.FreestandingGuest;
import dev.ignition.guest.TestGuests;
import dev.ignition.testkit.RequiresBackend;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Freestanding guests on the real KVM: output, input, lifecycle, hostile accesses. */
@Tag("kvm")
@RequiresBackend("kvm")
class KvmVirtualMachineTest {
    static final Duration T = Duration.ofSeconds(60);

    static VirtualMachine vm(FreestandingGuest guest) {
        return VirtualMachine.builder().memoryMiB(16).guest(guest).build();
    }

    @Test
    void helloOutputArrivesByteExactAndExitsWithZero() {
        ByteArrayOutputStream copy = new ByteArrayOutputStream();
        try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(16).guest(TestGuests.hello())
                .consoleOutput(copy).build()) {
            assertThat(vm.state()).isEqualTo(VmState.CREATED);
            assertThat(vm.backend()).isEqualTo("kvm");
            vm.start();
            assertThat(vm.awaitExit(T)).contains(new VmExit.GuestExit(0));
            assertThat(vm.state()).isEqualTo(VmState.EXITED);
            assertThat(vm.console().outputBytes()).isEqualTo(TestGuests.HELLO_TEXT.getBytes(StandardCharsets.US_ASCII));
            assertThat(copy.toByteArray()).isEqualTo(TestGuests.HELLO_TEXT.getBytes(StandardCharsets.US_ASCII));
        }
    }

    @Test
    void exitCodeIsPassedThrough() {
        try (VirtualMachine vm = vm(TestGuests.exitWith(42))) {
            vm.start();
            assertThat(vm.awaitExit(T)).contains(new VmExit.GuestExit(42));
        }
    }

    @Test
    void echoRoundTripsEveryByteValue() {
        try (VirtualMachine vm = vm(TestGuests.echo())) {
            vm.start();
            vm.console().waitFor(TestGuests.ECHO_READY, T);
            ByteArrayOutputStream sent = new ByteArrayOutputStream();
            for (int b = 0; b < 256; b++) {
                if (b != TestGuests.ECHO_EXIT) {
                    sent.write(b);
                }
            }
            byte[] payload = sent.toByteArray();
            long before = vm.console().bytesWritten();
            vm.console().write(payload);
            long deadline = System.nanoTime() + T.toNanos();
            while (vm.console().bytesWritten() < before + payload.length && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            byte[] out = vm.console().outputBytes();
            byte[] echoed = Arrays.copyOfRange(out, out.length - payload.length, out.length);
            assertThat(echoed).isEqualTo(payload);
            vm.console().write(new byte[] {TestGuests.ECHO_EXIT});
            assertThat(vm.awaitExit(T)).contains(new VmExit.GuestExit(0));
        }
    }

    @Test
    void counterPausesResumesAndClosesMidRun() throws InterruptedException {
        VirtualMachine vm = vm(TestGuests.counter());
        try {
            vm.start();
            vm.console().waitFor("\n20\n", T);
            vm.pause();
            assertThat(vm.state()).isEqualTo(VmState.PAUSED);
            long frozen = vm.console().bytesWritten();
            Thread.sleep(300);
            assertThat(vm.console().bytesWritten()).as("no output while paused").isEqualTo(frozen);
            vm.resume();
            assertThat(vm.state()).isEqualTo(VmState.RUNNING);
            vm.console().waitFor("\n60\n", T);
            assertConsecutive(vm.console().output());
        } finally {
            vm.close();
        }
        assertThat(vm.state()).isEqualTo(VmState.CLOSED);
        assertThat(vm.exit()).contains(new VmExit.Stopped());
        vm.close(); // idempotent
    }

    static void assertConsecutive(String output) {
        String[] lines = output.split("\n");
        for (int i = 0; i < lines.length - 1; i++) { // the last line may be partial
            assertThat(lines[i]).isEqualTo(Integer.toString(i + 1));
        }
    }

    @Test
    void severalVmsRunConcurrentlyWithoutInterfering() {
        List<VirtualMachine> vms = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                vms.add(vm(TestGuests.counter()));
            }
            VirtualMachine echo = vm(TestGuests.echo());
            vms.add(echo);
            vms.forEach(VirtualMachine::start);
            echo.console().waitFor(TestGuests.ECHO_READY, T);
            echo.console().write("vm-4 says hi");
            for (int i = 0; i < 3; i++) {
                vms.get(i).console().waitFor("\n30\n", T);
            }
            assertThat(echo.console().waitFor("vm-4 says hi", T)).isEqualTo("vm-4 says hi");
            for (int i = 0; i < 3; i++) {
                assertConsecutive(vms.get(i).console().output());
            }
        } finally {
            vms.forEach(VirtualMachine::close);
        }
    }

    @Test
    void accessesOutsideRamAndToUnknownPortsReadAllOnes() {
        long ram = 16L << 20;
        try (VirtualMachine vm = VirtualMachine.builder().memoryBytes(ram)
                .guest(TestGuests.prober(ram + 0x10_0000)).build()) {
            vm.start();
            assertThat(vm.awaitExit(T)).contains(new VmExit.GuestExit(0));
            assertThat(vm.console().output()).isEqualTo("mmio=ffffffffffffffff\nhigh=ffffffffffffffff\n"
                    + "port=00000000ffffffff\nprobe done\n");
        }
    }

    @Test
    void aGuestThatNeverLeavesTheCpuIsStoppedByClose() throws InterruptedException {
        VirtualMachine vm = vm(TestGuests.spinner());
        vm.start();
        Thread.sleep(200);
        assertThat(vm.state()).isEqualTo(VmState.RUNNING);
        long t0 = System.nanoTime();
        vm.close();
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(10));
        assertThat(vm.state()).isEqualTo(VmState.CLOSED);
        assertThat(vm.exit()).contains(new VmExit.Stopped());
    }

    @Test
    void spinnerCanBePausedToo() {
        try (VirtualMachine vm = vm(TestGuests.spinner())) {
            vm.start();
            vm.pause();
            assertThat(vm.state()).isEqualTo(VmState.PAUSED);
            vm.resume();
            assertThat(vm.state()).isEqualTo(VmState.RUNNING);
        }
    }

    @Test
    void dirtierWritesItsPatternAndReportsTheChecksum() {
        int pages = 64;
        try (VirtualMachine vm = VirtualMachine.builder().memoryMiB(16).vcpus(2).guest(TestGuests.dirtier(pages)).build()) {
            vm.start();
            vm.console().waitFor(TestGuests.DIRTIER_READY, T);
            vm.console().write("A");
            String line = vm.console().waitFor("\n", T);
            assertThat(line).isEqualTo("sum=" + String.format("%016x", TestGuests.dirtierChecksum(pages, 'A')) + "\n");
            for (long x = TestGuests.DIRTIER_DATA; x < TestGuests.DIRTIER_DATA + pages * 4096L; x += 4096 - 8) {
                long a = x & ~7L;
                assertThat(vm.memory().readLong(a)).isEqualTo(TestGuests.dirtierPattern(a, 'A'));
            }
            vm.console().write("q");
            assertThat(vm.awaitExit(T)).contains(new VmExit.GuestExit(0));
        }
    }

    /**
     * A hand-assembled guest that reports its CPL (CS.RPL) as its exit code, through port I/O. (Not
     * RFLAGS.IOPL read by {@code pushfq}: KVM's PVM flavour runs user code natively and shows the
     * host's IOPL there, while it emulates {@code in}/{@code out} against the guest's.)
     */
    static FreestandingGuest privilegeReporter() {
        byte[] code = {
            (byte) 0x8C, (byte) 0xC8,               // mov eax, cs
            0x24, 0x03,                             // and al, 3            (CPL = CS.RPL)
            (byte) 0xE6, (byte) 0xF4,               // out 0xf4, al
            (byte) 0xEB, (byte) 0xFE,               // jmp $
        };
        return new FreestandingGuest("privilege", code, TestGuests.LOAD_ADDRESS, TestGuests.LOAD_ADDRESS, 2L << 20);
    }

    @Test
    void freestandingGuestsRunAtCpl3AndMayStillUsePorts() {
        try (VirtualMachine vm = vm(privilegeReporter())) {
            vm.start();
            assertThat(vm.awaitExit(T)).contains(new VmExit.GuestExit(3));
        }
    }

    @Test
    void aPrivilegedInstructionFaultsAndEndsTheVmAsATripleFault() {
        byte[] hlt = {(byte) 0xF4, (byte) 0xEB, (byte) 0xFE}; // hlt; jmp $ — at CPL 0 it would halt quietly
        try (VirtualMachine vm = vm(new FreestandingGuest("hlt", hlt, TestGuests.LOAD_ADDRESS,
                TestGuests.LOAD_ADDRESS, 2L << 20))) {
            vm.start();
            assertThat(vm.awaitExit(T)).hasValueSatisfying(exit -> assertThat(exit).isInstanceOf(VmExit.Shutdown.class));
        }
    }
}
