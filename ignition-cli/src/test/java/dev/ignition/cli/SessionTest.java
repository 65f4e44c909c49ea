package dev.ignition.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VirtualMachine;
import dev.ignition.guest.TestGuests;
import dev.ignition.snapshot.LayerKind;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.VmSnapshots;
import dev.ignition.testkit.RequiresBackend;
import java.io.ByteArrayOutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The runner's session on KVM: typed input reaches the guest, Ctrl-A s writes full then diff, Ctrl-A x quits. */
@Tag("kvm")
@RequiresBackend("kvm")
class SessionTest {
    static final Duration T = Duration.ofSeconds(60);

    @Test
    void typesIntoTheGuestSnapshotsFullThenDiffAndQuits(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream messages = new ByteArrayOutputStream();
        PrintStream msg = new PrintStream(messages, true, StandardCharsets.UTF_8);
        PipedOutputStream keys = new PipedOutputStream();
        PipedInputStream in = new PipedInputStream(keys);
        try (SnapshotStore store = SnapshotStore.open(dir);
             VirtualMachine vm = VirtualMachine.builder().memoryMiB(16).trackDirtyPages(true).guest(TestGuests.echo()).build()) {
            CompletableFuture<Integer> status = CompletableFuture.supplyAsync(() -> new Session(vm, store, "demo", in, msg, "\n").run());
            vm.console().waitFor(TestGuests.ECHO_READY, T);
            type(keys, "hi");
            vm.console().waitFor("hi", T);
            type(keys, "\u0001s");
            awaitMessage(messages, "snapshot 'demo': FULL,");
            type(keys, "yo\u0001s");
            vm.console().waitFor("yo", T);
            awaitMessage(messages, "snapshot 'demo-2': DIFF over 'demo',");
            type(keys, "\u0001x");
            assertThat(status.get(60, TimeUnit.SECONDS)).isZero();
            assertThat(messages.toString(StandardCharsets.UTF_8)).containsPattern("written in [0-9.]+ ms").contains("[ignition] quit");
            assertThat(store.inspect("demo-2").kind()).isEqualTo(LayerKind.DIFF);
            try (VirtualMachine copy = VmSnapshots.restore(store, "demo-2", b -> b)) {
                copy.start();
                copy.console().write("again");
                copy.console().waitFor("again", T);
            }
        }
    }

    static void type(PipedOutputStream keys, String s) throws Exception {
        keys.write(s.getBytes(StandardCharsets.ISO_8859_1));
        keys.flush();
    }

    static void awaitMessage(ByteArrayOutputStream messages, String text) throws InterruptedException {
        long deadline = System.nanoTime() + T.toNanos();
        while (!messages.toString(StandardCharsets.UTF_8).contains(text)) {
            assertThat(System.nanoTime()).as("waiting for '" + text + "'; got: " + messages).isLessThan(deadline);
            Thread.sleep(20);
        }
    }
}
