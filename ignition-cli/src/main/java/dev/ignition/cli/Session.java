package dev.ignition.cli;

import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.snapshot.SnapshotInfo;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.VmSnapshots;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;

/**
 * A running VM with the terminal attached: input goes to the guest through {@link EscapeParser},
 * {@code Ctrl-A s} writes a snapshot (full first, then diffs when dirty pages are tracked) and
 * prints its write time, {@code Ctrl-A x} quits. Ends when the guest exits or on quit.
 */
final class Session {
    private final VirtualMachine vm;
    private final SnapshotStore store;
    private final String baseName;
    private final InputStream in;
    private final PrintStream msg;
    private final String nl;
    private final CountDownLatch quit = new CountDownLatch(1);

    Session(VirtualMachine vm, SnapshotStore store, String baseName, InputStream in, PrintStream msg, String newline) {
        this.vm = vm;
        this.store = store;
        this.baseName = baseName;
        this.in = in;
        this.msg = msg;
        this.nl = newline;
    }

    /** Runs until the guest exits or the user quits; returns the exit status for the process. */
    int run() {
        vm.start();
        Thread reader = Thread.ofPlatform().daemon(true).name("ignition-console-input").start(this::readInput);
        Optional<VmExit> exit = Optional.empty();
        try {
            while (exit.isEmpty() && quit.getCount() > 0) {
                exit = vm.awaitExit(Duration.ofMillis(100));
            }
        } finally {
            reader.interrupt();
        }
        if (exit.isEmpty()) {
            say("quit");
            return 0;
        }
        say("the VM exited: " + exit.get());
        return switch (exit.get()) {
            case VmExit.GuestExit g -> g.code();
            case VmExit.Failed f -> 1;
            default -> 0;
        };
    }

    private void readInput() {
        EscapeParser parser = new EscapeParser();
        byte[] buf = new byte[256];
        try {
            for (int n; (n = in.read(buf)) > 0; ) {
                for (EscapeParser.Action a : parser.feed(buf, 0, n)) {
                    switch (a) {
                        case EscapeParser.Action.Forward f -> vm.console().write(f.bytes());
                        case EscapeParser.Action.Snapshot s -> snapshot();
                        case EscapeParser.Action.Quit q -> quit.countDown();
                        case EscapeParser.Action.Help h -> say(EscapeParser.HELP);
                        case EscapeParser.Action.Unknown u -> say(String.format("Ctrl-A 0x%02x means nothing; %s", u.key(), EscapeParser.HELP));
                        case EscapeParser.Action.Pending p -> { }
                    }
                    if (quit.getCount() == 0) {
                        return;
                    }
                }
            }
        } catch (IOException e) {
            say("console input failed: " + e.getMessage());
        }
    }

    /** Writes the next snapshot and says what it cost; a failure is reported, the VM keeps running. */
    void snapshot() {
        String name = SnapshotNames.next(baseName,
                store.list().stream().map(SnapshotInfo::name).collect(Collectors.toSet()));
        try {
            VmSnapshots.Result r = VmSnapshots.snapshot(vm, store, name);
            say(String.format("snapshot '%s': %s%s, %d pages, %d bytes, written in %.2f ms (guest paused %.2f ms)",
                    name, r.kind(), r.parent() != null ? " over '" + r.parent() + "'" : "", r.write().pagesStored(),
                    r.write().layer().bytesOnDisk(), r.writeTime().toNanos() / 1e6, r.paused().toNanos() / 1e6));
        } catch (RuntimeException e) {
            say("snapshot '" + name + "' failed: " + e.getMessage());
        }
    }

    private void say(String text) {
        msg.print(nl + "[ignition] " + text + nl);
        msg.flush();
    }
}
