package dev.ignition.snapshot.internal;

import dev.ignition.device.Disk;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.snapshot.LayerId;
import dev.ignition.snapshot.LayerKind;
import dev.ignition.snapshot.SnapshotConflictException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.zip.CRC32C;
import org.jspecify.annotations.Nullable;

/**
 * Writes a layer's files into a fresh directory (not yet published) and fsyncs them. Publication
 * (manifest hash, rename, name) is the store's job.
 */
public final class LayerWriter {
    /** Full images are scanned, checksummed and written in chunks that stay in the L2 cache. */
    static final int FULL_CHUNK = 256 * 1024;
    /** Packed pages are gathered into a staging buffer of this size, then written in one call. */
    static final int STAGING = 1 << 20;

    private long writeNanos;
    private long syncNanos;

    /** Time spent producing and writing files, then fsyncing them, by the last call. */
    public long writeNanos() {
        return writeNanos;
    }

    public long syncNanos() {
        return syncNanos;
    }

    /** Writes a full layer of {@code memory} into {@code dir}; returns its manifest. */
    public Manifest writeFull(Path dir, GuestMemory memory, Map<String, byte[]> state, List<Disk> disks)
            throws IOException {
        Layout layout = Layout.of(memory);
        long t0 = System.nanoTime();
        long syncTime = 0;
        int ps = layout.pageSize();
        int chunk = Math.max(FULL_CHUNK, ps);
        MemorySegment zero = MemorySegment.ofArray(new byte[ps]);
        long stored = 0;
        long imageCrc;
        Path img = dir.resolve(Manifest.MEMORY_IMG);
        // The checksum pass runs on its own thread, overlapping the zero scan and the writes.
        try (BackgroundCrc crc = BackgroundCrc.start(memory);
             RandomAccessFile raf = new RandomAccessFile(img.toFile(), "rw")) {
            // Pages left unwritten are holes: they read as zeros, cost no disk space and map as zeros.
            raf.setLength(layout.totalSize());
            FileChannel ch = raf.getChannel();
            List<MemoryRegion> regions = memory.regions();
            for (int r = 0; r < regions.size(); r++) {
                MemorySegment seg = regions.get(r).segment();
                long base = layout.offset(r);
                for (long off = 0; off < seg.byteSize(); off += chunk) {
                    long len = Math.min(chunk, seg.byteSize() - off);
                    MemorySegment c = seg.asSlice(off, len);
                    crc.updateInline(c);
                    long runStart = -1;
                    for (long p = 0; p < len; p += ps) {
                        boolean isZero = MemorySegment.mismatch(c, p, p + ps, zero, 0, ps) == -1;
                        if (!isZero) {
                            stored++;
                            if (runStart < 0) {
                                runStart = p;
                            }
                        } else if (runStart >= 0) {
                            DurableFiles.writeFully(ch, c.asSlice(runStart, p - runStart).asByteBuffer(), base + off + runStart);
                            runStart = -1;
                        }
                    }
                    if (runStart >= 0) {
                        DurableFiles.writeFully(ch, c.asSlice(runStart, len - runStart).asByteBuffer(), base + off + runStart);
                    }
                }
            }
            imageCrc = crc.value();
            long s0 = System.nanoTime();
            ch.force(true);
            syncTime += System.nanoTime() - s0;
        }
        Map<String, Manifest.FileEntry> files = new HashMap<>();
        files.put(Manifest.MEMORY_IMG, new Manifest.FileEntry(layout.totalSize(), imageCrc));
        StateOut st = writeState(dir, state);
        syncTime += st.syncNanos;
        files.put(Manifest.STATE_BIN, st.file);
        DisksOut d = writeDisks(dir, disks, files);
        syncTime += d.syncNanos;
        syncNanos = syncTime;
        writeNanos = System.nanoTime() - t0 - syncTime;
        return new Manifest(LayerKind.FULL, null, ps, layout.regions(), stored, files, st.entries, d.entries);
    }

    /** Writes a packed diff of the pages in {@code runs} into {@code dir}; returns its manifest. */
    public Manifest writeDiff(Path dir, @Nullable LayerId parent, GuestMemory memory, Layout layout, PageRuns runs,
            Map<String, byte[]> state, List<Disk> disks) throws IOException {
        long t0 = System.nanoTime();
        long syncTime = 0;
        if ((long) runs.runCount() * PageRuns.ENTRY_BYTES > ManifestCodec.MAX_INDEX_BYTES) {
            throw new SnapshotConflictException("the dirty pages form " + runs.runCount()
                    + " runs, more than a diff's page index holds (" + ManifestCodec.MAX_INDEX_BYTES / PageRuns.ENTRY_BYTES
                    + "); write a full snapshot instead");
        }
        Map<String, Manifest.FileEntry> files = new HashMap<>();
        byte[] idx = runs.encode();
        long s0 = System.nanoTime();
        DurableFiles.writeNewFile(dir.resolve(Manifest.PAGES_IDX), idx);
        syncTime += System.nanoTime() - s0;
        files.put(Manifest.PAGES_IDX, new Manifest.FileEntry(idx.length, Checksums.crc32c(idx, 0, idx.length)));

        CRC32C crc = new CRC32C();
        long[] written = {0};
        try (FileChannel ch = FileChannel.open(dir.resolve(Manifest.PAGES_BIN), StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE);
             Arena arena = Arena.ofConfined()) {
            MemorySegment staging = arena.allocate(STAGING, 4096);
            long[] fill = {0};
            DiffPacker.forEachSlice(memory, layout, runs, slice -> {
                long size = slice.byteSize();
                if (fill[0] == 0 && size >= STAGING) {
                    // Large contiguous runs go straight from guest memory to the file: one copy.
                    ByteBuffer direct = slice.asByteBuffer();
                    crc.update(direct.duplicate());
                    DurableFiles.writeFully(ch, direct, written[0]);
                    written[0] += size;
                    return;
                }
                long done = 0;
                while (done < size) {
                    long n = Math.min(size - done, STAGING - fill[0]);
                    MemorySegment.copy(slice, done, staging, fill[0], n);
                    fill[0] += n;
                    done += n;
                    if (fill[0] == STAGING) {
                        flush(ch, staging, fill[0], crc, written);
                        fill[0] = 0;
                    }
                }
            });
            if (fill[0] > 0) {
                flush(ch, staging, fill[0], crc, written);
            }
            long s1 = System.nanoTime();
            ch.force(true);
            syncTime += System.nanoTime() - s1;
        }
        files.put(Manifest.PAGES_BIN, new Manifest.FileEntry(written[0], crc.getValue()));
        StateOut st = writeState(dir, state);
        syncTime += st.syncNanos;
        files.put(Manifest.STATE_BIN, st.file);
        DisksOut d = writeDisks(dir, disks, files);
        syncTime += d.syncNanos;
        syncNanos = syncTime;
        writeNanos = System.nanoTime() - t0 - syncTime;
        return new Manifest(LayerKind.DIFF, parent, layout.pageSize(), layout.regions(), runs.pageCount(), files,
                st.entries, d.entries);
    }

    /**
     * CRC32C of all of guest memory in region order, computed by a helper thread when every
     * region is accessible from another thread (shared or global segments), else inline.
     */
    private static final class BackgroundCrc implements AutoCloseable {
        private final CRC32C inline = new CRC32C();
        private final @Nullable CompletableFuture<Long> result;

        private BackgroundCrc(@Nullable CompletableFuture<Long> result) {
            this.result = result;
        }

        static BackgroundCrc start(GuestMemory memory) {
            CompletableFuture<Long> f = new CompletableFuture<>();
            Thread t = Thread.ofPlatform().daemon().name("ignition-snapshot-crc").unstarted(() -> {
                try {
                    CRC32C c = new CRC32C();
                    for (MemoryRegion r : memory.regions()) {
                        MemorySegment seg = r.segment();
                        for (long off = 0; off < seg.byteSize(); off += FULL_CHUNK) {
                            c.update(seg.asSlice(off, Math.min(FULL_CHUNK, seg.byteSize() - off)).asByteBuffer());
                        }
                    }
                    f.complete(c.getValue());
                } catch (Throwable e) {
                    f.completeExceptionally(e);
                }
            });
            boolean shareable = memory.regions().stream().allMatch(r -> r.segment().isAccessibleBy(t));
            if (!shareable) {
                return new BackgroundCrc(null);
            }
            t.start();
            return new BackgroundCrc(f);
        }

        void updateInline(MemorySegment chunk) {
            if (result == null) {
                inline.update(chunk.asByteBuffer());
            }
        }

        long value() throws IOException {
            if (result == null) {
                return inline.getValue();
            }
            try {
                return result.join();
            } catch (CompletionException e) {
                throw new IOException("checksumming guest memory failed: " + e.getCause(), e.getCause());
            }
        }

        /** Waits for the helper thread, so it never reads memory the caller may unmap after a failure. */
        @Override
        public void close() {
            if (result != null) {
                try {
                    result.join();
                } catch (CompletionException e) {
                    // Reported by value() on the success path; after a failure the first error wins.
                }
            }
        }
    }

    private static void flush(FileChannel ch, MemorySegment staging, long n, CRC32C crc, long[] written)
            throws IOException {
        ByteBuffer b = staging.asSlice(0, n).asByteBuffer();
        crc.update(b.duplicate());
        DurableFiles.writeFully(ch, b, written[0]);
        written[0] += n;
    }

    private record DisksOut(List<Manifest.DiskEntry> entries, long syncNanos) {}

    /**
     * Clones each disk image into {@code dir} as {@code disk<i>.img} (FICLONE/clonefile where the
     * filesystem can, else a logged copy), fsyncs it and checksums the clone. The caller
     * guarantees that no one writes the images meanwhile (the VM is paused).
     */
    private static DisksOut writeDisks(Path dir, List<Disk> disks, Map<String, Manifest.FileEntry> files)
            throws IOException {
        if (disks.size() > Manifest.MAX_DISKS) {
            throw new IllegalArgumentException(disks.size() + " disks; a layer holds at most " + Manifest.MAX_DISKS);
        }
        List<Manifest.DiskEntry> entries = new ArrayList<>();
        long sync = 0;
        for (int i = 0; i < disks.size(); i++) {
            Disk d = disks.get(i);
            Path target = dir.resolve(Manifest.diskFile(i));
            NativeClone.cloneOrCopy(d.image(), target);
            long s0 = System.nanoTime();
            try (FileChannel ch = FileChannel.open(target, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            sync += System.nanoTime() - s0;
            files.put(Manifest.diskFile(i), new Manifest.FileEntry(Files.size(target),
                    Checksums.crc32c(target)));
            entries.add(new Manifest.DiskEntry(d.id(), d.readOnly()));
        }
        return new DisksOut(entries, sync);
    }

    private record StateOut(Manifest.FileEntry file, List<Manifest.StateEntry> entries, long syncNanos) {}

    private static StateOut writeState(Path dir, Map<String, byte[]> state) throws IOException {
        TreeMap<String, byte[]> sorted = new TreeMap<>(state);
        long total = 0;
        for (var e : sorted.entrySet()) {
            String name = e.getKey();
            if (name.isEmpty() || name.length() > ManifestCodec.MAX_STATE_NAME) {
                throw new IllegalArgumentException("state blob name '" + name + "' must have 1.."
                        + ManifestCodec.MAX_STATE_NAME + " characters");
            }
            total += e.getValue().length;
        }
        if (total > ManifestCodec.MAX_STATE_BYTES) {
            throw new IllegalArgumentException("state blobs total " + total + " bytes; the limit is "
                    + ManifestCodec.MAX_STATE_BYTES + " bytes (256 MiB)");
        }
        byte[] all = new byte[(int) total];
        List<Manifest.StateEntry> entries = new ArrayList<>();
        int off = 0;
        for (var e : sorted.entrySet()) {
            byte[] b = e.getValue();
            System.arraycopy(b, 0, all, off, b.length);
            entries.add(new Manifest.StateEntry(e.getKey(), off, b.length, Checksums.crc32c(b, 0, b.length)));
            off += b.length;
        }
        long s0 = System.nanoTime();
        DurableFiles.writeNewFile(dir.resolve(Manifest.STATE_BIN), all);
        long sync = System.nanoTime() - s0;
        return new StateOut(new Manifest.FileEntry(all.length, Checksums.crc32c(all, 0, all.length)), entries, sync);
    }
}
