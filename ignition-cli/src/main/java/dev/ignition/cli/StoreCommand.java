package dev.ignition.cli;

import dev.ignition.snapshot.DeleteResult;
import dev.ignition.snapshot.GcResult;
import dev.ignition.snapshot.LayerInfo;
import dev.ignition.snapshot.SnapshotInfo;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.SquashMode;
import dev.ignition.snapshot.VerifyReport;
import dev.ignition.snapshot.WriteResult;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code ignition vm store ...}: lists, inspects, verifies, squashes, deletes and garbage-collects
 * the snapshots of a store.
 *
 * <pre>{@code
 * ./ignition vm store --store snapshots list
 * ./ignition vm store squash demo-3 --into demo-flat --mode full
 * }</pre>
 */
@Command(name = "store", mixinStandardHelpOptions = true, description = "Inspects and maintains a snapshot store.")
final class StoreCommand {
    @Spec
    @Nullable CommandSpec spec;

    @Option(names = "--store", paramLabel = "DIR", defaultValue = "snapshots", scope = CommandLine.ScopeType.INHERIT,
            description = "snapshot store directory (default: ${DEFAULT-VALUE})")
    Path store = Path.of("snapshots");

    @Command(name = "list", description = "Every snapshot: name, kind, chain depth, pages, bytes, when published.")
    int list() {
        return withStore(s -> {
            List<SnapshotInfo> all = s.list();
            out().printf("%-24s %-5s %5s %10s %14s  %s%n", "NAME", "KIND", "DEPTH", "PAGES", "BYTES", "PUBLISHED");
            for (SnapshotInfo i : all) {
                out().printf("%-24s %-5s %5d %10d %14d  %s%n", i.name(), i.layer().kind(), i.chainDepth(),
                        i.layer().storedPages(), i.layer().bytesOnDisk(), i.published());
            }
            out().printf("%d snapshot%s%n", all.size(), all.size() == 1 ? "" : "s");
            return 0;
        });
    }

    @Command(name = "inspect", description = "The chain of one snapshot, newest layer first.")
    int inspect(@Parameters(paramLabel = "NAME") String name) {
        return withStore(s -> {
            List<LayerInfo> chain = s.resolve(name);
            out().printf("%s: %d layer%s, %d MiB of guest memory%n", name, chain.size(), chain.size() == 1 ? "" : "s",
                    chain.getFirst().memorySize() >> 20);
            for (LayerInfo l : chain) {
                out().printf("  %s %-4s pages %-8d bytes %-12d state %s%n", l.id().shortForm(), l.kind(), l.storedPages(),
                        l.bytesOnDisk(), l.stateNames());
            }
            return 0;
        });
    }

    @Command(name = "verify", description = "Checks every layer's files and every name's chain; exit status 1 on problems.")
    int verify() {
        return withStore(s -> {
            VerifyReport r = s.verify();
            out().printf("%d layers, %d names checked: %s%n", r.layersChecked(), r.namesChecked(),
                    r.ok() ? "ok" : r.problems().size() + " problem(s)");
            r.problems().forEach(p -> out().println("  " + p));
            return r.ok() ? 0 : 1;
        });
    }

    @Command(name = "squash", description = "Squashes a snapshot's chain into one layer.")
    int squash(@Parameters(paramLabel = "NAME") String name,
            @Option(names = "--into", paramLabel = "NEW", description = "name of the result (default: replace NAME)") @Nullable String into,
            @Option(names = "--mode", defaultValue = "FULL", description = "FULL (one full layer) or DIFF (one diff on the root);"
                    + " default ${DEFAULT-VALUE}") SquashMode mode) {
        return withStore(s -> {
            WriteResult r = s.squash(name, into != null ? into : name, mode);
            out().printf("squashed %s into %s: %s layer %s, %d pages, written in %.2f ms%n", name, r.name(),
                    r.layer().kind(), r.layer().id().shortForm(), r.pagesStored(), r.timings().totalNanos() / 1e6);
            return 0;
        });
    }

    @Command(name = "delete", description = "Deletes a snapshot (and, with --cascade, the snapshots built on it).")
    int delete(@Parameters(paramLabel = "NAME") String name,
            @Option(names = "--cascade", description = "also delete snapshots that depend on it") boolean cascade) {
        return withStore(s -> {
            DeleteResult r = s.delete(name, cascade);
            out().printf("deleted %s and %d layer(s)%n", r.namesRemoved(), r.layersRemoved().size());
            return 0;
        });
    }

    @Command(name = "gc", description = "Removes layers no snapshot name reaches.")
    int gc() {
        return withStore(s -> {
            GcResult r = s.gc();
            out().printf("removed %d layer(s), freed %d bytes%n", r.removed().size(), r.bytesFreed());
            return 0;
        });
    }

    private PrintWriter out() {
        return Objects.requireNonNull(spec).commandLine().getOut();
    }

    /** Opens the store (which must exist: inspecting never creates one) and runs {@code action}. */
    private int withStore(Function<SnapshotStore, Integer> action) {
        if (!Files.isDirectory(store)) {
            throw new IllegalArgumentException("no snapshot store at " + store.toAbsolutePath() + " (give --store DIR)");
        }
        try (SnapshotStore s = SnapshotStore.open(store)) {
            return action.apply(s);
        }
    }
}
