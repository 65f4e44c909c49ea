package dev.ignition;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.regex.MatchResult;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class ConsoleTest {
    static void emit(Console c, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        c.emit(b, 0, b.length);
    }

    @Test
    void waitForConsumesThroughTheMatch() {
        Console c = new Console(List.of(), List.of());
        emit(c, "boot...\nlogin: ");
        assertThat(c.waitFor("login: ", Duration.ofSeconds(1))).isEqualTo("boot...\nlogin: ");
        emit(c, "a login: b");
        assertThat(c.waitFor("login:", Duration.ofSeconds(1))).isEqualTo("a login:");
        assertThatThrownBy(() -> c.waitFor("login:", Duration.ofMillis(50)))
                .isInstanceOf(ConsoleTimeoutException.class).hasMessageContaining("last output: \" b\"");
    }

    @Test
    void waitForMatchConsumesThroughTheFirstMatchAndGivesItsGroups() {
        Console c = new Console(List.of(), List.of());
        emit(c, "boot…\nserver on port 8080, pid 7\nserver on port 9090\n");
        MatchResult m = c.waitForMatch(Pattern.compile("port (\\d+)"), Duration.ofSeconds(1));
        assertThat(m.group()).isEqualTo("port 8080");
        assertThat(m.group(1)).isEqualTo("8080");
        // consumed through the first match, in bytes ('…' is three): the next wait starts after it
        assertThat(c.waitFor("\n", Duration.ofSeconds(1))).isEqualTo(", pid 7\n");
        assertThat(c.waitForMatch(Pattern.compile("port (\\d+)"), Duration.ofSeconds(1)).group(1)).isEqualTo("9090");
        assertThatThrownBy(() -> c.waitForMatch(Pattern.compile("port \\d+"), Duration.ofMillis(50)))
                .isInstanceOf(ConsoleTimeoutException.class)
                .hasMessage("nothing matching /port \\d+/ appeared on the console within PT0.05S; last output: \"\n\"");
    }

    @Test
    void waitForMatchSeesOutputArrivingLater() throws Exception {
        Console c = new Console(List.of(), List.of());
        emit(c, "loading");
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                return;
            }
            emit(c, " done in 42 ms\n");
        });
        assertThat(c.waitForMatch(Pattern.compile("done in (\\d+) ms"), Duration.ofSeconds(5)).group(1)).isEqualTo("42");
        t.join();
    }

    @Test
    void waitForSeesOutputArrivingLater() throws Exception {
        Console c = new Console(List.of(), List.of());
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                return;
            }
            emit(c, "ready\n");
        });
        assertThat(c.waitFor("ready", Duration.ofSeconds(5))).isEqualTo("ready");
        t.join();
    }

    @Test
    void retainsOnlyTheMostRecentOutput() {
        Console c = new Console(List.of(), List.of());
        byte[] chunk = new byte[64 * 1024];
        for (int i = 0; i < 40; i++) {
            c.emit(chunk, 0, chunk.length);
        }
        assertThat(c.outputBytes()).hasSizeLessThanOrEqualTo(Console.RETAINED_BYTES);
        assertThat(c.bytesWritten()).isEqualTo(40L * chunk.length);
    }

    @Test
    void inputIsQueuedInOrder() {
        Console c = new Console(List.of(), List.of());
        int[] notified = {0};
        c.onInput(() -> notified[0]++);
        c.write("ab");
        assertThat(notified[0]).isEqualTo(1);
        assertThat(c.pollInput()).isEqualTo('a');
        assertThat(c.pollInput()).isEqualTo('b');
        assertThat(c.pollInput()).isEqualTo(-1);
    }

    @Test
    void aClosedVmsConsoleRefusesInputAtOnce() {
        Console c = new Console(List.of(), List.of());
        c.write("before");
        c.end(VmState.CLOSED);
        assertThatThrownBy(() -> c.write("after")).isInstanceOf(IllegalVmStateException.class)
                .hasMessage("cannot write to the console of a VM that is CLOSED");
        assertThat(c.pollInput()).as("what came before the close is still there").isEqualTo('b');
    }

    @Test
    void waitForFailsAtOnceOnceNoMoreOutputCanCome() {
        Console c = new Console(List.of(), List.of());
        emit(c, "bye\n");
        c.end(VmState.EXITED);
        assertThat(c.waitFor("bye", Duration.ofSeconds(1))).as("what already arrived is still found").isEqualTo("bye");
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> c.waitFor("never", Duration.ofMinutes(5))).isInstanceOf(IllegalVmStateException.class)
                .hasMessage("cannot wait for 'never' on the console of a VM that is EXITED; last output: \"\n\"");
        assertThatThrownBy(() -> c.waitForMatch(Pattern.compile("nev(er)"), Duration.ofMinutes(5)))
                .isInstanceOf(IllegalVmStateException.class)
                .hasMessageStartingWith("cannot wait for /nev(er)/ on the console of a VM that is EXITED");
        c.end(VmState.CLOSED);
        assertThatThrownBy(() -> c.waitFor("never", Duration.ofMinutes(5))).isInstanceOf(IllegalVmStateException.class)
                .hasMessageStartingWith("cannot wait for 'never' on the console of a VM that is CLOSED");
        c.end(VmState.EXITED);
        assertThatThrownBy(() -> c.write("x")).as("closed stays closed").isInstanceOf(IllegalVmStateException.class);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(30));
    }

    @Test
    void aWaiterIsWokenWhenTheVmEnds() throws Exception {
        Console c = new Console(List.of(), List.of());
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                return;
            }
            c.end(VmState.CLOSED);
        });
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> c.waitFor("ready", Duration.ofMinutes(5))).isInstanceOf(IllegalVmStateException.class);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(30));
        t.join();
    }
}
