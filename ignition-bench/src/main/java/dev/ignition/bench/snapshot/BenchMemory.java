package dev.ignition.bench.snapshot;

import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.snapshot.internal.DurableFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;

/** Guest memory for benchmarks: one region, every page non-zero, and dirty sets over it. */
final class BenchMemory {
    private BenchMemory() {}

    /** Memory size in MiB: 512 unless the system property {@code ignition.bench.memMiB} says otherwise. */
    static long bytes() {
        return Long.getLong("ignition.bench.memMiB", 512) << 20;
    }

    static GuestMemory create(long size, int pageSize) {
        Arena arena = Arena.ofShared();
        MemorySegment seg = arena.allocate(size, pageSize);
        // Every page distinct and non-zero, so full writes store all of it (the worst case).
        SplittableRandom rnd = new SplittableRandom(42);
        for (long off = 0; off < size; off += 8) {
            seg.set(ValueLayout.JAVA_LONG_UNALIGNED, off, rnd.nextLong() | 1L);
        }
        return new GuestMemory(List.of(new MemoryRegion(0, seg)), pageSize, arena::close);
    }

    /** A dirty bitmap of {@code percent} % of {@code pages}: random pages, or one contiguous block. */
    static long[] dirty(int pages, int percent, boolean contiguous, long seed) {
        long[] bits = new long[(pages + 63) / 64];
        int n = (int) ((long) pages * percent / 100);
        Random rnd = new Random(seed);
        if (contiguous) {
            int start = rnd.nextInt(pages - n + 1);
            for (int p = start; p < start + n; p++) {
                bits[p >>> 6] |= 1L << (p & 63);
            }
        } else {
            int set = 0;
            while (set < n) {
                int p = rnd.nextInt(pages);
                if ((bits[p >>> 6] & (1L << (p & 63))) == 0) {
                    bits[p >>> 6] |= 1L << (p & 63);
                    set++;
                }
            }
        }
        return bits;
    }

    /** A fresh directory under {@code parent} ({@code /dev/shm} for "tmpfs", the temp dir for "disk"). */
    static Path dir(String target, String prefix) {
        try {
            if (target.equals("tmpfs")) {
                return Files.createTempDirectory(Path.of("/dev/shm"), prefix);
            }
            return Files.createTempDirectory(Path.of(System.getProperty("ignition.bench.diskDir",
                    System.getProperty("java.io.tmpdir"))), prefix);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void delete(Path dir) {
        DurableFiles.deleteTree(dir);
    }
}
