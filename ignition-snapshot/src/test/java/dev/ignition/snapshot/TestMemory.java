package dev.ignition.snapshot;

import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.snapshot.internal.DurableFiles;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

/** Guest memory backed by native memory, and helpers to fill and compare it. */
final class TestMemory {
    private TestMemory() {}

    /** @param regions pairs of (guest address, size) */
    static GuestMemory create(int pageSize, long... regions) {
        Arena arena = Arena.ofShared();
        List<MemoryRegion> rs = new ArrayList<>();
        for (int i = 0; i < regions.length; i += 2) {
            rs.add(new MemoryRegion(regions[i], arena.allocate(regions[i + 1], pageSize)));
        }
        return new GuestMemory(rs, pageSize, arena::close);
    }

    /** All of memory's bytes, regions concatenated in address order. */
    static byte[] bytes(GuestMemory m) {
        byte[] out = new byte[(int) m.size()];
        int off = 0;
        for (MemoryRegion r : m.regions()) {
            MemorySegment.copy(r.segment(), ValueLayout.JAVA_BYTE, 0, out, off, (int) r.size());
            off += (int) r.size();
        }
        return out;
    }

    /** Writes random bytes into page {@code page} (layout numbering) through the host-dirty path. */
    static void fillPage(GuestMemory m, int page, Random rnd) {
        byte[] data = new byte[m.pageSize()];
        rnd.nextBytes(data);
        m.write(addressOf(m, page), data);
    }

    static long addressOf(GuestMemory m, int page) {
        long off = (long) page * m.pageSize();
        for (MemoryRegion r : m.regions()) {
            if (off < r.size()) {
                return r.guestAddress() + off;
            }
            off -= r.size();
        }
        throw new IllegalArgumentException("page " + page + " outside memory");
    }

    static int pages(GuestMemory m) {
        return (int) (m.size() / m.pageSize());
    }

    static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A temporary directory, on tmpfs when the host has one: these tests check bytes and
     * validation, not durability, and fsync to a shared disk would dominate their run time.
     */
    static Path tempDir(String prefix) {
        try {
            Path shm = Path.of("/dev/shm");
            if (Files.isDirectory(shm) && Files.isWritable(shm)) {
                return Files.createTempDirectory(shm, prefix);
            }
            return Files.createTempDirectory(prefix);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static void deleteTree(Path p) {
        DurableFiles.deleteTree(p);
    }
}
