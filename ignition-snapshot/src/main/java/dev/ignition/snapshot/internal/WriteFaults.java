package dev.ignition.snapshot.internal;

import java.io.IOException;
import org.jspecify.annotations.Nullable;

/**
 * Test seam for failures while a layer is published: tests install a hook that throws (an
 * {@link IOException} as a disk would, or anything else) at a named step. Unset in production,
 * where each step costs one volatile read.
 */
public final class WriteFaults {
    /** The steps of {@code StoreImpl.publish}, in order. */
    public enum Step {
        /** Before the layer's files (memory, state, disks) are written. */
        FILES,
        /** After the files, before the manifest. */
        MANIFEST,
        /** Before the layer directory is renamed into {@code layers/}. */
        RENAME,
        /** Before the name is pointed at the new layer. */
        NAME,
        /** After the name was published (the layer is in the store, the call still fails). */
        PUBLISHED
    }

    /** What a test installs. */
    @FunctionalInterface
    public interface Hook {
        void at(Step step) throws IOException;
    }

    private static volatile @Nullable Hook hook;

    private WriteFaults() {}

    /** Installs {@code h} (null removes it). Tests only. */
    public static void install(@Nullable Hook h) {
        hook = h;
    }

    static void at(Step step) throws IOException {
        Hook h = hook;
        if (h != null) {
            h.at(step);
        }
    }
}
