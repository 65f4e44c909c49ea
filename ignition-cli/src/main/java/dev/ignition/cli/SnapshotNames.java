package dev.ignition.cli;

import dev.ignition.snapshot.InvalidSnapshotNameException;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Names for the snapshots a session writes: {@code NAME} first, then {@code NAME-2},
 * {@code NAME-3}, …, skipping names the store already has.
 *
 * <pre>{@code
 * String next = SnapshotNames.next("boot", Set.of("boot"));   // "boot-2"
 * }</pre>
 */
public final class SnapshotNames {
    /** The store's rule for names (docs/snapshot-format.md). */
    private static final Pattern VALID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    private SnapshotNames() {}

    /** @throws IllegalArgumentException saying what a name may be, if {@code name} is not one */
    public static void check(String name) {
        if (!VALID.matcher(name).matches()) {
            throw new IllegalArgumentException(new InvalidSnapshotNameException(name).getMessage());
        }
    }

    /** The first of {@code base}, {@code base-2}, {@code base-3}, … not in {@code taken}. */
    public static String next(String base, Set<String> taken) {
        check(base);
        if (!taken.contains(base)) {
            return base;
        }
        for (int i = 2; ; i++) {
            String n = base + "-" + i;
            if (!taken.contains(n)) {
                check(n);
                return n;
            }
        }
    }
}
