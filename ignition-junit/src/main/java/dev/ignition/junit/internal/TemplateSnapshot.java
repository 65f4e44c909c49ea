package dev.ignition.junit.internal;

import dev.ignition.IgnitionException;
import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.junit.VmTemplate;
import dev.ignition.junit.WaitStrategy;
import dev.ignition.snapshot.ForkPool;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.VmSnapshots;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * A template VM booted once, prepared and snapshotted into a temporary store; hands out forks,
 * made ahead from the first fork on by a {@link ForkPool} of {@value #POOL_PROPERTY} forks
 * (default 2; 0 makes each fork when a test asks for it). Closing it closes the pool and the store and deletes its directory.
 */
final class TemplateSnapshot implements AutoCloseable {
    static final String SNAPSHOT = "template";
    /** System property: how many forks to keep ready per template. */
    static final String POOL_PROPERTY = "ignition.junit.forkPool";
    private static final int DEFAULT_POOL = 2;
    /** Prefix of the temporary store directories, so leftovers can be recognised. */
    static final String DIR_PREFIX = "ignition-vmtemplate-";

    private final VmTemplate template;
    private final String what;
    private final Path dir;
    private final SnapshotStore store;
    private final String summary;
    private final int poolSize;
    /** Opened at the first fork, so a class whose tests take no VM makes no fork at all. */
    private @Nullable ForkPool pool;
    private boolean closed;
    /** Every fork's time in nanoseconds, for the summary printed when the class is done. */
    private final List<Long> forkNanos = Collections.synchronizedList(new ArrayList<>());

    private TemplateSnapshot(VmTemplate template, String what, Path dir, SnapshotStore store, String summary) {
        this.template = template;
        this.what = what;
        this.dir = dir;
        this.store = store;
        this.summary = summary;
        this.poolSize = poolSize(System.getProperty(POOL_PROPERTY));
    }

    /** The pool size from {@link #POOL_PROPERTY}: 0 to 64, else the default. */
    static int poolSize(@Nullable String property) {
        if (property == null) {
            return DEFAULT_POOL;
        }
        try {
            int n = Integer.parseInt(property.trim());
            return n >= 0 && n <= 64 ? n : DEFAULT_POOL;
        } catch (NumberFormatException e) {
            return DEFAULT_POOL;
        }
    }

    /** Boots, prepares and snapshots {@code template}; {@code what} names it in error messages. */
    static TemplateSnapshot create(VmTemplate template, String what) {
        Path dir;
        try {
            dir = Files.createTempDirectory(DIR_PREFIX);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary snapshot store for " + what, e);
        }
        SnapshotStore store = null;
        try {
            store = SnapshotStore.open(dir);
            long t0 = System.nanoTime();
            String summary;
            try (VirtualMachine vm = template.newBuilder().guest(template.guest()).build()) {
                vm.start();
                WaitStrategy ready = template.ready();
                if (ready != null) {
                    try {
                        ready.await(vm, template.startupTimeout());
                    } catch (IgnitionException e) {
                        throw new IgnitionException("the template VM of " + what + " was not ready: " + e.getMessage()
                                + exitNote(vm.exit()), e);
                    }
                }
                long readyAt = System.nanoTime();
                for (Consumer<VirtualMachine> step : template.beforeSnapshot()) {
                    step.accept(vm);
                }
                vm.exit().ifPresent(x -> {
                    throw new IgnitionException("the template VM of " + what
                            + " exited before its snapshot could be taken: " + x);
                });
                long preparedAt = System.nanoTime();
                VmSnapshots.Result r = VmSnapshots.snapshot(vm, store, SNAPSHOT, VmSnapshots.Kind.FULL);
                summary = String.format(Locale.ROOT, "booted%s in %.1f ms, prepared in %.1f ms, %s snapshot of %d MiB written in %.1f ms",
                        ready != null ? " and ready" : "", (readyAt - t0) / 1e6, (preparedAt - readyAt) / 1e6,
                        r.kind().toString().toLowerCase(Locale.ROOT), vm.memory().size() >> 20,
                        r.writeTime().toNanos() / 1e6);
            }
            return new TemplateSnapshot(template, what, dir, store, summary);
        } catch (RuntimeException | Error e) {
            if (store != null) {
                store.close();
            }
            deleteTree(dir);
            throw e;
        }
    }

    private static String exitNote(Optional<VmExit> exit) {
        return exit.map(x -> " (the VM had exited: " + x + ")").orElse("");
    }

    /** A new VM restored from the snapshot (copy-on-write memory), started. */
    Fork fork() {
        long t0 = System.nanoTime();
        ForkPool p = pool();
        VirtualMachine vm = p != null ? p.take() : VmSnapshots.restore(store, SNAPSHOT, b -> template.newBuilder());
        try {
            vm.start();
        } catch (RuntimeException | Error e) {
            vm.close();
            throw e;
        }
        long nanos = System.nanoTime() - t0;
        forkNanos.add(nanos);
        return new Fork(vm, Duration.ofNanos(nanos));
    }

    private synchronized @Nullable ForkPool pool() {
        if (pool == null && poolSize > 0 && !closed) {
            pool = ForkPool.open(store, SNAPSHOT, poolSize, b -> template.newBuilder());
        }
        return pool;
    }

    /** What creating the snapshot took, for the report. */
    String summary() {
        return summary;
    }

    /** The template's name, e.g. {@code EchoTest.ECHO}. */
    String name() {
        return what;
    }

    /** How many forks were made and how long they took, e.g. "3 forks in 1.20 ms median (1.00 to 2.50 ms)". */
    String forkSummary() {
        List<Long> sorted;
        synchronized (forkNanos) {
            sorted = forkNanos.stream().sorted().toList();
        }
        if (sorted.isEmpty()) {
            return "no forks (no test took a VM)";
        }
        if (sorted.size() == 1) {
            return String.format(Locale.ROOT, "1 fork in %.2f ms", sorted.getFirst() / 1e6);
        }
        return String.format(Locale.ROOT, "%d forks in %.2f ms median (%.2f to %.2f ms)", sorted.size(),
                sorted.get((sorted.size() - 1) / 2) / 1e6, sorted.getFirst() / 1e6, sorted.getLast() / 1e6);
    }

    Path directory() {
        return dir;
    }

    @Override
    public void close() {
        ForkPool p;
        synchronized (this) {
            closed = true;
            p = pool;
        }
        try {
            if (p != null) {
                p.close();
            }
        } finally {
            try {
                store.close();
            } finally {
                deleteTree(dir);
            }
        }
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete the temporary snapshot store " + dir, e);
        }
    }

    /** One test's VM and how long forking it took; closing it closes the VM. */
    record Fork(VirtualMachine vm, Duration forkTime) implements AutoCloseable {
        @Override
        public void close() {
            vm.close();
        }
    }
}
