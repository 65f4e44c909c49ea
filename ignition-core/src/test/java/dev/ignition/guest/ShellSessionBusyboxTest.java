package dev.ignition.guest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.hosttools.HostTool;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link ShellSession} against a real busybox shell behind a {@link FakeTerminal} that echoes,
 * translates newlines and tears output lines with kernel messages.
 */
class ShellSessionBusyboxTest {
    static final Duration T = Duration.ofSeconds(20);
    static String busybox;
    static FakeTerminal terminal;
    static ShellSession shell;
    static Path scratch;

    @BeforeAll
    @BeforeContainer
    static void start() throws Exception {
        if (shell != null) {
            return;
        }
        busybox = HostTool.BUSYBOX.find().map(Path::toString).orElse(null);
        if (busybox == null) {
            return;
        }
        scratch = Files.createTempDirectory("ignition-shell");
        terminal = new FakeTerminal(busybox, 42, 0.5);
        shell = ShellSession.open(terminal.link(), T, scratch.toString());
    }

    @AfterAll
    @AfterContainer
    static void stop() {
        if (terminal != null) {
            terminal.close();
            terminal = null;
            shell = null;
        }
    }

    static void assumeBusybox() {
        Assumptions.assumeTrue(busybox != null, HostTool.BUSYBOX.missingReason());
    }

    @Test
    void exitStatusesRoundTrip() {
        assumeBusybox();
        assertThat(shell.exec("true", T).exitStatus()).isZero();
        assertThat(shell.exec("false", T).exitStatus()).isEqualTo(1);
        assertThat(shell.exec("exit 3", T).exitStatus()).isEqualTo(3);
        assertThat(shell.exec("exit 255", T).exitStatus()).isEqualTo(255);
        assertThat(shell.exec("kill -9 $$", T).exitStatus()).isEqualTo(137);
        assertThat(shell.exec("no-such-command-here", T).exitStatus()).isEqualTo(127);
    }

    @Test
    void stdoutAndStderrStaySeparateAndExact() {
        assumeBusybox();
        ExecResult r = shell.exec("echo out; echo err >&2; printf 'a\\nb\\r\\nc'; exit 7", T);
        assertThat(r.exitStatus()).isEqualTo(7);
        assertThat(r.stdoutText()).isEqualTo("out\na\nb\r\nc");
        assertThat(r.stderrText()).isEqualTo("err\n");
    }

    @Test
    void everyByteValueSurvives() {
        assumeBusybox();
        ExecResult r = shell.exec("i=0; while [ $i -lt 256 ]; do printf \"\\\\$(printf %o $i)\"; i=$((i+1)); done", T);
        byte[] expected = new byte[256];
        for (int i = 0; i < 256; i++) {
            expected[i] = (byte) i;
        }
        assertThat(r.stdout()).isEqualTo(expected);
        assertThat(r.exitStatus()).isZero();
    }

    @Test
    void longCommandsGoOverInSeveralLines() {
        assumeBusybox();
        String text = IntStream.range(0, 400).mapToObj(i -> "w" + i + "'\"\\%é$`")
                .collect(Collectors.joining(" "));
        String command = "cat <<'EOF'\n" + text + "\nEOF";
        assertThat(ShellSession.printfChunks(command.getBytes(StandardCharsets.UTF_8))).hasSizeGreaterThan(5);
        ExecResult r = shell.exec(command, T);
        assertThat(r.stdoutText()).isEqualTo(text + "\n");
    }

    @Test
    void largeOutputArrivesIntact() {
        assumeBusybox();
        ExecResult r = shell.exec("seq 1 20000", T);
        String expected = IntStream.rangeClosed(1, 20000).mapToObj(Integer::toString).collect(Collectors.joining("\n"))
                + "\n";
        assertThat(r.stdoutText()).isEqualTo(expected);
    }

    @Test
    void aSlowCommandTimesOutWithAClearMessage() {
        assumeBusybox();
        assertThatThrownBy(() -> shell.exec("sleep 2", Duration.ofMillis(300)))
                .isInstanceOf(ShellException.class).hasMessageContaining("did not finish within PT0.3S: sleep 2");
        // The shell finishes the sleep and then serves the next command.
        assertThat(shell.exec("echo back", T).stdoutText()).isEqualTo("back\n");
    }

    @Test
    void anUnwritableScratchDirectoryIsNamed() throws Exception {
        assumeBusybox();
        ShellSession bad = ShellSession.open(terminal.link(), T, "/nonexistent/scratch");
        assertThatThrownBy(() -> bad.exec("true", T)).isInstanceOf(ShellException.class)
                .hasMessageContaining("could not write its output files to /nonexistent/scratch");
        assertThat(shell.exec("echo fine", T).stdoutText()).isEqualTo("fine\n");
    }

    @Test
    void noiseWasInjectedAndTornLinesWereRetried() {
        assumeBusybox();
        for (int i = 0; i < 10; i++) {
            assertThat(shell.exec("echo " + i + "; seq 1 50", T).stdoutText()).startsWith(i + "\n1\n2\n");
        }
        assertThat(terminal.noiseLines.get()).isGreaterThan(5);
        assertThat(terminal.tears.get()).isGreaterThan(0);
    }

    @Property(tries = 10)
    @AddLifecycleHook(HostTool.NeedsBusybox.class)
    void arbitraryFileContentIsReturnedExactly(@ForAll @Size(max = 3000) byte[] content,
            @ForAll @IntRange(min = 0, max = 255) int status) throws Exception {
        start();
        assumeBusybox();
        Path file = Files.write(scratch.resolve("input.bin"), content);
        ExecResult r = shell.exec("cat " + file + "; cat " + file + " >&2; exit " + status, T);
        assertThat(r.stdout()).isEqualTo(content);
        assertThat(r.stderr()).isEqualTo(content);
        assertThat(r.exitStatus()).isEqualTo(status);
    }

    @Property(tries = 10)
    @AddLifecycleHook(HostTool.NeedsBusybox.class)
    void arbitraryCommandTextIsDeliveredExactly(@ForAll @Size(max = 700) String text) throws Exception {
        start();
        assumeBusybox();
        String clean = text.replace("\0", "").replaceAll("[\\uD800-\\uDFFF]", "");
        String quoted = "'" + clean.replace("'", "'\\''") + "'";
        ExecResult r = shell.exec("printf '%s' " + quoted, T);
        assertThat(r.stdoutText()).isEqualTo(clean);
    }
}
