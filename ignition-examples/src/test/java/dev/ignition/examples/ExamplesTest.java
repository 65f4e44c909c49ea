package dev.ignition.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.Backends;
import dev.ignition.guest.TestGuests;
import dev.ignition.testkit.RequiresBackend;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.ToIntFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Runs each example and checks what it prints; the kvm ones on KVM, the explanations anywhere. */
class ExamplesTest {
    record Run(int status, String output) {}

    static Run run(ToIntFunction<PrintStream> example) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int status;
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            status = example.applyAsInt(out);
        }
        return new Run(status, bytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void withoutABackendTheExamplesSayWhyAndFail() {
        var a = Backends.availability();
        Assumptions.assumeFalse(a.available(), "a backend is available here: the kvm tests run the examples");
        for (ToIntFunction<PrintStream> example : List.<ToIntFunction<PrintStream>>of(
                HelloGuest::run, out -> SnapshotChain.run(out, null), ForkTen::run, CustomDevice::run)) {
            Run r = run(example);
            assertThat(r.status()).isEqualTo(Examples.UNAVAILABLE);
            assertThat(r.output()).isEqualTo("Cannot run a VM here: " + a.reason() + System.lineSeparator());
        }
    }

    @Test
    void linuxExecExplainsWhyItCannotRunAndSucceeds() {
        Optional<String> why = LinuxExec.whyNot(false);
        Assumptions.assumeTrue(why.isPresent(), "the Linux guest can run here: the linux-guest test runs it");
        Run r = run(out -> LinuxExec.run(out, false));
        assertThat(r.status()).isZero();
        assertThat(r.output()).startsWith("This example boots a Linux guest and runs commands in it, but not here: ")
                .contains(why.get());
    }

    @Test
    @Tag("kvm")
    @RequiresBackend("kvm")
    void helloGuestPrintsItsGreetingAndHowItExited() {
        Run r = run(HelloGuest::run);
        assertThat(r.status()).as(r.output()).isZero();
        assertThat(r.output()).startsWith(TestGuests.HELLO_TEXT).contains("backend:    kvm (")
                .containsPattern("run guest: +[0-9.]+ ms \\(start to exit, " + TestGuests.HELLO_TEXT.length() + " console bytes\\)")
                .endsWith("exit:       GuestExit[code=0]" + System.lineSeparator());
    }

    @Test
    @Tag("kvm")
    @RequiresBackend("kvm")
    void snapshotChainWritesAFullAndTwoDiffsAndRestoresTheNewest() {
        Run r = run(out -> SnapshotChain.run(out, null));
        assertThat(r.status()).as(r.output()).isZero();
        assertThat(r.output()).containsPattern("snapshot booted +FULL")
                .contains("the restored guest holds generation 'b'")
                .containsPattern("chain of gen-b: \\S+\\(DIFF, \\d+ pages\\) \\S+\\(DIFF, \\d+ pages\\) \\S+\\(FULL, \\d+ pages\\)");
        for (String name : new String[] {"gen-a", "gen-b"}) {
            Matcher m = Pattern.compile("snapshot " + name + " +DIFF +(\\d+) pages.*written in ([0-9.]+) ms").matcher(r.output());
            assertThat(m.find()).as(r.output()).isTrue();
            // the guest rewrote PAGES pages; its stack and a few others may come along
            assertThat(Integer.parseInt(m.group(1))).isBetween(SnapshotChain.PAGES, SnapshotChain.PAGES + 16);
        }
    }

    @Test
    @Tag("kvm")
    @RequiresBackend("kvm")
    void forkTenGivesEveryForkItsOwnData() {
        Run r = run(ForkTen::run);
        assertThat(r.status()).as(r.output()).isZero();
        assertThat(r.output()).contains("forked and started 10 VMs in").contains("all 10 forks kept their own data")
                .containsPattern("from a pool of 4 forks made ahead: take, start and first reply \\(a 21-character line\\) in [0-9.]+ ms"
                        + " \\(median of 10\\)\\n");
        for (int i = 0; i < ForkTen.FORKS; i++) {
            char g = (char) ('0' + i);
            assertThat(r.output()).contains("fork " + i + ": wrote generation '" + g + "' -> "
                    + String.format("sum=%016x", TestGuests.dirtierChecksum(ForkTen.PAGES, g)));
        }
    }

    @Test
    @Tag("kvm")
    @RequiresBackend("kvm")
    void customDeviceUpperCasesTheGuestsMessage() {
        Run r = run(CustomDevice::run);
        assertThat(r.status()).as(r.output()).isZero();
        assertThat(r.output()).startsWith(CustomDevice.MESSAGE.toUpperCase(Locale.ROOT))
                .contains("the device converted " + CustomDevice.MESSAGE.length() + " bytes; the guest exited with GuestExit[code=0]");
    }

    @Test
    @Tag("linux-guest")
    @RequiresBackend("kvm")
    void linuxExecRunsCommandsInTheGuest() {
        Optional<String> why = LinuxExec.whyNot(false);
        Assumptions.assumeTrue(why.isEmpty(), () -> why.orElse(""));
        Run r = run(out -> LinuxExec.run(out, false));
        assertThat(r.status()).as(r.output()).isZero();
        assertThat(r.output()).contains("$ echo $((6 * 7))\n42\n[exit status 0]")
                .containsPattern("\\$ ls /nonexistent\\n.*No such file or directory\\n\\[exit status [1-9]");
    }

    @Test
    void linuxNetworkExplainsWhyItCannotRunAndSucceeds() {
        Optional<String> why = LinuxExec.whyNot(false);
        Assumptions.assumeTrue(why.isPresent(), "the Linux guest can run here: the linux-guest test runs it");
        Run r = run(out -> LinuxNetwork.run(out, false));
        assertThat(r.status()).isZero();
        assertThat(r.output()).startsWith("This example networks a Linux guest with the host, but not here: ")
                .contains(why.get());
    }

    @Test
    @Tag("linux-guest")
    @RequiresBackend("kvm")
    void linuxNetworkReachesTheGuestsHttpdAndTheGuestReachesTheHost() {
        Optional<String> why = LinuxExec.whyNot(false);
        Assumptions.assumeTrue(why.isEmpty(), () -> why.orElse(""));
        Run r = run(out -> LinuxNetwork.run(out, false));
        assertThat(r.status()).as(r.output()).isZero();
        assertThat(r.output()).containsPattern("host -> guest: http://127\\.0\\.0\\.1:[0-9]+/ \\(forwarded to the guest's port "
                        + LinuxNetwork.GUEST_PORT + "\\) says: " + LinuxNetwork.GUEST_PAGE + "\n")
                .containsPattern("guest -> host: http://[0-9.]+:[0-9]+/ \\(the host's 127\\.0\\.0\\.1\\) says: "
                        + LinuxNetwork.HOST_PAGE + "\n");
    }
}
