package dev.ignition.examples;

import static dev.ignition.guest.TestGuests.DIRTIER_DATA;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.Console;
import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.VmState;
import dev.ignition.guest.TestGuests;
import dev.ignition.junit.IgnitionTest;
import dev.ignition.junit.VmTemplate;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@link IgnitionTest} on real KVM: the {@code dirtier} guest is booted once, told to fill its
 * data pages with generation {@code S}, given a host-written marker, and snapshotted. Every test
 * below gets its own fork: in {@code @BeforeEach} it checks (from the guest's and the host's side)
 * that it sees exactly the snapshot's state and not the marker or generation of the test before
 * it; then the test changes its VM in its own way. Each fork's time is in the report entry
 * {@code ignition.fork}.
 */
@Tag("kvm")
@IgnitionTest
@TestMethodOrder(MethodOrderer.MethodName.class)
class ForkedVmPerTestTest {
    static final int PAGES = 4;
    static final int SNAPSHOT_GENERATION = 'S';
    static final long MARKER_ADDRESS = 0x30_0000;
    static final long SNAPSHOT_MARKER = 0x5eed_5eedL;
    /** Generous: under full emulation a console round trip can take seconds. */
    static final Duration T = Duration.ofSeconds(60);

    static final VmTemplate DIRTIER = VmTemplate.boot(TestGuests.dirtier(PAGES))
            .configure(b -> b.memoryMiB(4))   // small: snapshots scan all of it, and CI emulates
            .backend("kvm")
            .waitingFor(TestGuests.DIRTIER_READY)
            .beforeSnapshot(vm -> {
                assertThat(command(vm.console(), (char) SNAPSHOT_GENERATION)).isEqualTo(sumLine(SNAPSHOT_GENERATION));
                vm.memory().writeLong(MARKER_ADDRESS, SNAPSHOT_MARKER);
            });

    /** The marker the previous test left in its VM (0 before the first). */
    static final AtomicLong PREVIOUS_MARKER = new AtomicLong();

    static String sumLine(int generation) {
        return String.format("sum=%016x%n", TestGuests.dirtierChecksum(PAGES, generation));
    }

    /** Sends one command byte and returns the guest's reply line. */
    static String command(Console console, char c) {
        console.write(String.valueOf(c));
        return console.waitFor("\n", T);
    }

    /** Fills the data with {@code generation} from the guest, and checks both views of it. */
    static void rewrite(VirtualMachine vm, char generation) {
        assertThat(command(vm.console(), generation)).isEqualTo(sumLine(generation));
        assertThat(vm.memory().readLong(DIRTIER_DATA + 8)).isEqualTo(TestGuests.dirtierPattern(DIRTIER_DATA + 8, generation));
    }

    /** Leaves this test's own marker behind, for the next test to not see. */
    static void mark(VirtualMachine vm, long marker) {
        vm.memory().writeLong(MARKER_ADDRESS, marker);
        PREVIOUS_MARKER.set(marker);
    }

    @BeforeEach
    void seesTheSnapshotAndNothingElse(VirtualMachine vm) {
        assertThat(vm.state()).isEqualTo(VmState.RUNNING);
        assertThat(vm.console().output()).as("a fork's console starts empty").isEmpty();
        long marker = vm.memory().readLong(MARKER_ADDRESS);
        assertThat(marker).isEqualTo(SNAPSHOT_MARKER);
        if (PREVIOUS_MARKER.get() != 0) {
            assertThat(marker).as("the previous test's marker").isNotEqualTo(PREVIOUS_MARKER.get());
        }
        assertThat(command(vm.console(), '?')).as("the guest's own checksum of its data").isEqualTo(sumLine(SNAPSHOT_GENERATION));
    }

    @AfterEach
    void stillConsistent(VirtualMachine vm) {
        if (vm.state() == VmState.RUNNING) {
            long expect = TestGuests.dirtierChecksum(PAGES, vm.memory()::readLong);
            assertThat(command(vm.console(), '?')).isEqualTo(String.format("sum=%016x%n", expect));
        }
    }

    @Test
    void t01_theHostSeesEverySnapshotPage(VirtualMachine vm) {
        for (long a = DIRTIER_DATA; a < DIRTIER_DATA + PAGES * 4096L; a += 512) {
            assertThat(vm.memory().readLong(a)).isEqualTo(TestGuests.dirtierPattern(a, SNAPSHOT_GENERATION));
        }
        mark(vm, 0x01);
    }

    @Test
    void t02_theGuestRewritesItsData(VirtualMachine vm) {
        rewrite(vm, 'a');
        mark(vm, 0x02);
    }

    @Test
    void t03_anotherGenerationInTheNextFork(VirtualMachine vm) {
        rewrite(vm, 'b');
        mark(vm, 0x03);
    }

    @Test
    void t04_twoGenerationsInOneFork(VirtualMachine vm) {
        rewrite(vm, 'c');
        rewrite(vm, 'd');
        mark(vm, 0x04);
    }

    @Test
    void t05_hostWritesReachTheGuest(VirtualMachine vm) {
        for (long a = DIRTIER_DATA; a < DIRTIER_DATA + PAGES * 4096L; a += 8) {
            vm.memory().writeLong(a, TestGuests.dirtierPattern(a, 'h'));
        }
        assertThat(command(vm.console(), '?')).isEqualTo(sumLine('h'));
        mark(vm, 0x05);
    }

    @Test
    void t06_aSingleHostWriteChangesTheGuestsChecksum(VirtualMachine vm) {
        vm.memory().writeLong(DIRTIER_DATA, 0);
        assertThat(command(vm.console(), '?')).isNotEqualTo(sumLine(SNAPSHOT_GENERATION));
        mark(vm, 0x06);
    }

    @Test
    void t07_pauseAndResumeKeepTheState(VirtualMachine vm) {
        vm.pause();
        assertThat(vm.state()).isEqualTo(VmState.PAUSED);
        vm.resume();
        assertThat(command(vm.console(), '?')).isEqualTo(sumLine(SNAPSHOT_GENERATION));
        mark(vm, 0x07);
    }

    @Test
    void t08_quittingEndsOnlyThisFork(VirtualMachine vm) {
        vm.console().write("q");
        assertThat(vm.awaitExit(T)).contains(new VmExit.GuestExit(0));
        PREVIOUS_MARKER.set(0x08); // the next fork must not have exited either: @BeforeEach checks RUNNING
    }

    @Test
    void t09_closingTheForkEarlyIsAllowed(VirtualMachine vm) {
        mark(vm, 0x09);
        vm.close();
        assertThat(vm.state()).isEqualTo(VmState.CLOSED);
    }

    @Test
    void t10_theConsoleCanBeInjectedToo(Console console, VirtualMachine vm) {
        assertThat(console).isSameAs(vm.console());
        assertThat(command(console, 'e')).isEqualTo(sumLine('e'));
        mark(vm, 0x10);
    }

    @Test
    void t11_memoryOutsideTheDataIsUntouchedByTheGuest(VirtualMachine vm) {
        long after = DIRTIER_DATA + PAGES * 4096L;
        long before = vm.memory().readLong(after);
        rewrite(vm, 'f');
        assertThat(vm.memory().readLong(after)).isEqualTo(before);
        mark(vm, 0x11);
    }

    @Test
    void t12_theForkRunsOnKvm(VirtualMachine vm) {
        assertThat(vm.backend()).isEqualTo("kvm");
        assertThat(vm.memory().size()).isEqualTo(4L << 20);
        mark(vm, 0x12);
    }

    @Test
    void t13_inputQueuedAtOnceIsAnsweredInOrder(VirtualMachine vm) {
        vm.console().write("pk");
        assertThat(vm.console().waitFor("\n", T)).isEqualTo(sumLine('p'));
        assertThat(vm.console().waitFor("\n", T)).isEqualTo(sumLine('k'));
        mark(vm, 0x13);
    }

    @Test
    void t14_theMarkerIsPrivateToThisFork(VirtualMachine vm) {
        mark(vm, 0x14);
        assertThat(vm.memory().readLong(MARKER_ADDRESS)).isEqualTo(0x14);
    }

    @Test
    void t15_theGuestDoesNotSeeTheMarkerAsData(VirtualMachine vm) {
        mark(vm, 0x15);
        assertThat(command(vm.console(), '?')).isEqualTo(sumLine(SNAPSHOT_GENERATION));
    }

    @Test
    void t16_generationZeroWritesPlainAddresses(VirtualMachine vm) {
        assertThat(command(vm.console(), '\0')).isEqualTo(sumLine(0));
        assertThat(vm.memory().readLong(DIRTIER_DATA)).isEqualTo(DIRTIER_DATA);
        mark(vm, 0x16);
    }

    @Test
    void t17_aHighGenerationByte(VirtualMachine vm) {
        rewrite(vm, (char) 0x7e);
        mark(vm, 0x17);
    }

    @Test
    void t18_theSnapshotGenerationAgainChangesNothing(VirtualMachine vm) {
        rewrite(vm, (char) SNAPSHOT_GENERATION);
        mark(vm, 0x18);
    }

    @Test
    void t19_repeatedQuestionsGiveTheSameAnswer(VirtualMachine vm) {
        String first = command(vm.console(), '?');
        assertThat(command(vm.console(), '?')).isEqualTo(first);
        mark(vm, 0x19);
    }

    @Test
    void t20_hostAndGuestAgreeAfterMixedWrites(VirtualMachine vm) {
        rewrite(vm, 'm');
        vm.memory().writeLong(DIRTIER_DATA + 4096, 42);
        long expect = TestGuests.dirtierChecksum(PAGES, vm.memory()::readLong);
        assertThat(command(vm.console(), '?')).isEqualTo(String.format("sum=%016x%n", expect));
        mark(vm, 0x20);
    }

    @Test
    void t21_theConsoleHoldsOnlyThisForksOutput(VirtualMachine vm) {
        rewrite(vm, 'o');
        assertThat(vm.console().output()).isEqualTo(sumLine(SNAPSHOT_GENERATION) + sumLine('o'));
        mark(vm, 0x21);
    }

    @Test
    void t22_theLastForkStillSeesTheSnapshot(VirtualMachine vm) {
        assertThat(vm.memory().readLong(DIRTIER_DATA)).isEqualTo(TestGuests.dirtierPattern(DIRTIER_DATA, SNAPSHOT_GENERATION));
        mark(vm, 0x22);
    }
}
