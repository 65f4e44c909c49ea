package dev.ignition.snapshot.internal;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.ignition.internal.posix.Libc;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.snapshot.CorruptLayerException;
import dev.ignition.snapshot.SnapshotException;
import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Maps a validated chain's root image copy-on-write and overlays each diff page once, from the
 * newest layer that holds it (walking leaf to root and skipping pages already written).
 */
public final class Restorer {
    private static final AtomicLong MAPPINGS = new AtomicLong();
    private static final int SEEK_END = 2;
    /** {@code off_t lseek(int, off_t, int)}: the size of the descriptor being mapped. */
    private static final MethodHandle LSEEK = Objects.requireNonNull(Libc.bindOptional("lseek",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT), true), "libc lacks lseek");

    private Restorer() {}

    /** How many image mappings this class has created; lets tests prove a rejection mapped nothing. */
    public static long mappingsCreated() {
        return MAPPINGS.get();
    }

    /** The restored memory and the number of pages overlaid, plus stage timings. */
    public record Result(GuestMemory memory, long pagesOverlaid, long mapNanos, long overlayNanos) {}

    /** Checks, before mapping, that this host can map the chain's pages at their offsets. */
    public static void checkHostPageSize(ResolvedLayer leaf, int hostPageSize) {
        int ps = leaf.manifest().pageSize();
        if (ps % hostPageSize != 0) {
            throw new SnapshotException("snapshot layer " + leaf.id() + " has " + ps + "-byte pages, smaller than"
                    + " this host's " + hostPageSize + "-byte pages; it cannot be mapped here");
        }
    }

    /** @param chain a resolved chain, leaf first */
    public static Result restore(List<ResolvedLayer> chain) {
        ResolvedLayer root = chain.getLast();
        Layout layout = root.layout();
        long t0 = System.nanoTime();
        MemorySegment image = mapPrivate(root, layout.totalSize());
        MAPPINGS.incrementAndGet();
        long t1 = System.nanoTime();
        long overlaid;
        try {
            overlaid = overlay(chain, image);
        } catch (RuntimeException e) {
            Libc.munmap(image);
            throw e;
        }
        long t2 = System.nanoTime();
        List<MemoryRegion> regions = new ArrayList<>();
        for (int i = 0; i < layout.regions().size(); i++) {
            regions.add(new MemoryRegion(layout.regions().get(i).guestAddress(),
                    image.asSlice(layout.offset(i), layout.regions().get(i).size())));
        }
        GuestMemory memory = new GuestMemory(regions, layout.pageSize(), () -> Libc.munmap(image));
        return new Result(memory, overlaid, t1 - t0, t2 - t1);
    }

    /**
     * Maps the root image private and writable through a read-only descriptor (FileChannel.map
     * would demand a writable channel for PRIVATE), checking the size on that same descriptor.
     */
    private static MemorySegment mapPrivate(ResolvedLayer root, long expected) {
        Path img = root.file(Manifest.MEMORY_IMG);
        int fd;
        try {
            fd = SafeFiles.openFd(img, Manifest.MEMORY_IMG);
        } catch (SafeFiles.Refused e) {
            throw new CorruptLayerException(root.id().hex(), e.getMessage());
        } catch (IOException e) {
            throw new CorruptLayerException(root.id().hex(), "memory.img cannot be opened: " + e.getMessage());
        }
        try {
            long size = lseekEnd(fd);
            if (size != expected) {
                throw new CorruptLayerException(root.id().hex(), "memory.img changed size after validation ("
                        + size + " bytes, expected " + expected + ")");
            }
            return Libc.mmap(MemorySegment.NULL, size, Libc.PROT_READ | Libc.PROT_WRITE,
                    Libc.MAP_PRIVATE | Libc.MAP_NORESERVE, fd, 0);
        } finally {
            Libc.close(fd);
        }
    }

    private static long lseekEnd(int fd) {
        try {
            MemorySegment st = Libc.captureState();
            long rc = (long) LSEEK.invokeExact(st, fd, 0L, SEEK_END);
            if (rc < 0) {
                throw Libc.error("lseek(SEEK_END)", Libc.lastErrno(st));
            }
            return rc;
        } catch (Throwable t) {
            throw Libc.rethrow(t);
        }
    }

    private static long overlay(List<ResolvedLayer> chain, MemorySegment image) {
        Layout layout = chain.getLast().layout();
        long ps = layout.pageSize();
        long[] claimed = new long[(layout.totalPages() + 63) / 64];
        long overlaid = 0;
        int[] mapped = {0}; // spans mapped rather than copied, for the whole chain
        for (int l = 0; l < chain.size() - 1; l++) {
            ResolvedLayer layer = chain.get(l);
            PageRuns runs = layer.runs();
            if (runs == null || runs.pageCount() == 0) {
                continue;
            }
            try (FileChannel ch = SafeFiles.openRead(layer.file(Manifest.PAGES_BIN), Manifest.PAGES_BIN)) {
                long expected = layer.manifest().file(Manifest.PAGES_BIN).size();
                if (ch.size() != expected) {
                    throw new CorruptLayerException(layer.id().hex(), "pages.bin changed size after validation");
                }
                Source packed = new Source(ch, layer, new int[] {-1}, mapped);
                long src = 0;
                for (int r = 0; r < runs.runCount(); r++) {
                    int start = runs.start(r);
                    int count = runs.count(r);
                    int spanStart = -1;
                    long spanSrc = 0;
                    for (int p = start; p < start + count; p++) {
                        long bit = 1L << (p & 63);
                        int w = p >>> 6;
                        boolean fresh = (claimed[w] & bit) == 0;
                        if (fresh) {
                            claimed[w] |= bit;
                            if (spanStart < 0) {
                                spanStart = p;
                                spanSrc = src;
                            }
                        } else if (spanStart >= 0) {
                            copy(packed, spanSrc, image, spanStart, p - spanStart, ps);
                            overlaid += p - spanStart;
                            spanStart = -1;
                        }
                        src += ps;
                    }
                    if (spanStart >= 0) {
                        copy(packed, spanSrc, image, spanStart, start + count - spanStart, ps);
                        overlaid += start + count - spanStart;
                    }
                }
                packed.closeFd();
            } catch (SafeFiles.Refused e) {
                throw new CorruptLayerException(layer.id().hex(), e.getMessage());
            } catch (IOException e) {
                throw new SnapshotException("cannot read " + layer.file(Manifest.PAGES_BIN) + ": " + e.getMessage(), e);
            }
        }
        return overlaid;
    }

    /**
     * A diff's pages.bin: read with pread into the restored mapping, or, for long spans, mapped
     * over it (a descriptor opened for the first such span).
     */
    private record Source(FileChannel channel, ResolvedLayer layer, int[] fd, int[] mapped) {
        int descriptor() throws IOException {
            if (fd[0] < 0) {
                int f = SafeFiles.openFd(layer.file(Manifest.PAGES_BIN), Manifest.PAGES_BIN);
                if (lseekEnd(f) != channel.size()) {
                    Libc.close(f);
                    throw new CorruptLayerException(layer.id().hex(), "pages.bin changed size after validation");
                }
                fd[0] = f;
            }
            return fd[0];
        }

        void closeFd() {
            if (fd[0] >= 0) {
                Libc.close(fd[0]);
                fd[0] = -1;
            }
        }
    }

    /**
     * Spans of at least this many pages are mapped from pages.bin (MAP_PRIVATE | MAP_FIXED) over
     * the image instead of copied: no copy and no page touched until the guest touches it, so a
     * deep chain of large diffs restores about as fast as its root alone (8 MiB copied cost 3.3 ms
     * here). Shorter spans are copied: each mapping is a kernel VMA, and a process has at most
     * {@code vm.max_map_count} of them (65530 by default) for all its VMs.
     */
    private static final int MAP_SPAN_PAGES = 16;
    /** At most this many spans per restored VM are mapped; the rest are copied. */
    private static final int MAX_MAPPED_SPANS = 64;

    /**
     * Places {@code pages} pages from {@code src} in pages.bin at page {@code page} of the image.
     * Short spans: pread, so the kernel copies from the page cache into the private mapping and
     * the source side costs no page faults (which dominate on hosts with expensive faults, such as
     * this project's paravirtualised machines). Long spans: mapped, see {@link #MAP_SPAN_PAGES}.
     * pages.bin holds whole pages from offset 0, so every span's offset is page-aligned.
     */
    private static void copy(Source packed, long src, MemorySegment image, int page, int pages, long ps)
            throws IOException {
        if (pages >= MAP_SPAN_PAGES && packed.mapped()[0] < MAX_MAPPED_SPANS && src % Libc.pageSize() == 0) {
            MemorySegment at = MemorySegment.ofAddress(image.address() + page * ps);
            Libc.mmap(at, pages * ps, Libc.PROT_READ | Libc.PROT_WRITE,
                    Libc.MAP_PRIVATE | Libc.MAP_FIXED | Libc.MAP_NORESERVE, packed.descriptor(), src);
            packed.mapped()[0]++;
            return;
        }
        ByteBuffer dst = image.asSlice(page * ps, pages * ps).asByteBuffer();
        long pos = src;
        while (dst.hasRemaining()) {
            int n = packed.channel().read(dst, pos);
            if (n < 0) {
                throw new CorruptLayerException(packed.layer().id().hex(), "pages.bin ended early while restoring");
            }
            pos += n;
        }
    }
}
