package dev.ignition.snapshot.internal;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ignition.device.Disk;
import dev.ignition.internal.posix.Libc;
import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.CorruptLayerException;
import dev.ignition.snapshot.CorruptNameException;
import dev.ignition.snapshot.DeleteResult;
import dev.ignition.snapshot.DirtyPages;
import dev.ignition.snapshot.GcResult;
import dev.ignition.snapshot.InvalidSnapshotNameException;
import dev.ignition.snapshot.LayerId;
import dev.ignition.snapshot.LayerInfo;
import dev.ignition.snapshot.NoSuchSnapshotException;
import dev.ignition.snapshot.RestoreTimings;
import dev.ignition.snapshot.RestoredSnapshot;
import dev.ignition.snapshot.SnapshotConflictException;
import dev.ignition.snapshot.SnapshotException;
import dev.ignition.snapshot.SnapshotInfo;
import dev.ignition.snapshot.SquashMode;
import dev.ignition.snapshot.Verification;
import dev.ignition.snapshot.VerifyReport;
import dev.ignition.snapshot.WriteResult;
import dev.ignition.snapshot.WriteTimings;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The store's implementation. Layout on disk: {@code layers/<id>/}, {@code names/<name>},
 * {@code tmp/} (in-flight writes and deletions, emptied on open), {@code store.lock} and the
 * marker {@code ignition-store.json}.
 */
public final class StoreImpl implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StoreImpl.class);
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    private static final String MARKER = "ignition-store.json";
    private static final List<String> TOP_DIRS = List.of("layers", "names", "tmp", "work");
    /** The marker is one short line; anything much larger is not one. */
    private static final int MAX_MARKER_BYTES = 4096;
    /** Longest name file accepted: the format is 64 hex digits and a newline (65 bytes). */
    static final int MAX_NAME_FILE_BYTES = 80;
    private static final com.fasterxml.jackson.databind.ObjectMapper MARKER_JSON =
            new com.fasterxml.jackson.databind.ObjectMapper();
    private static final String MARKER_TEXT =
            "{\"format\":\"ignition-snapshot-store\",\"formatVersion\":1}\n";
    /** FileLock is per process: threads of one JVM are serialised by this lock first. */
    private static final ConcurrentHashMap<Path, ReentrantLock> JVM_LOCKS = new ConcurrentHashMap<>();

    private final Path root;
    private final Path layers;
    private final Path names;
    private final Path tmp;
    private final Path work;
    /**
     * The writer lock's file, or null for a store opened read-only. Reopened under the JVM lock
     * when an interrupt closed it (FileChannel.lock closes the channel of an interrupted thread).
     */
    private @Nullable FileChannel lockChannel;
    private final ReentrantLock jvmLock;
    private final ChainResolver resolver;
    /** Why the store cannot be written (read-only media or permissions), or null when it can. */
    private final @Nullable String readOnly;
    private volatile boolean closed;

    private StoreImpl(Path root, @Nullable String readOnly) throws IOException {
        this.root = root;
        this.layers = root.resolve("layers");
        this.names = root.resolve("names");
        this.tmp = root.resolve("tmp");
        this.work = root.resolve("work");
        this.resolver = new ChainResolver(layers);
        this.readOnly = readOnly;
        this.lockChannel = readOnly == null ? openLockFile(root) : null;
        this.jvmLock = JVM_LOCKS.computeIfAbsent(root, k -> new ReentrantLock());
    }

    private static FileChannel openLockFile(Path root) throws IOException {
        Path lockFile = root.resolve("store.lock");
        if (Files.exists(lockFile, LinkOption.NOFOLLOW_LINKS)) {
            SafeFiles.regularFileSize(lockFile, "store.lock"); // a FIFO would block the open, a link lock another file
        }
        return FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * Opens (creating if needed) the store at {@code dir} and removes leftovers of crashed writes.
     * An existing store this process cannot write (read-only media, permissions) opens read-only:
     * it can be listed, inspected, verified and restored from; writes are refused.
     */
    public static StoreImpl open(Path dir) {
        if (Files.isRegularFile(dir)) {
            throw new SnapshotException("cannot open snapshot store " + dir + ": it is a regular file, not a"
                    + " directory");
        }
        try {
            Path existing = Files.isDirectory(dir) ? dir.toRealPath() : null;
            if (existing != null && Files.isRegularFile(existing.resolve(MARKER))) {
                String why = unwritable(existing);
                if (why != null) {
                    checkMarker(existing, existing.resolve(MARKER));
                    checkTopDirs(existing);
                    LOG.info("Opened snapshot store {} read-only: {}", existing, why);
                    return new StoreImpl(existing, why);
                }
            }
            Files.createDirectories(dir);
            Path root = dir.toRealPath();
            Path marker = root.resolve(MARKER);
            if (!Files.exists(marker, LinkOption.NOFOLLOW_LINKS)) {
                try (DirectoryStream<Path> s = Files.newDirectoryStream(root)) {
                    for (Path p : s) {
                        String n = p.getFileName().toString();
                        if (!Set.of("layers", "names", "tmp", "work", "store.lock").contains(n)) {
                            throw new SnapshotException("refusing to use " + root + " as a snapshot store: it is not"
                                    + " empty and has no " + MARKER + " (found '" + n + "')");
                        }
                    }
                }
            } else {
                checkMarker(root, marker);
            }
            for (String d : TOP_DIRS) {
                Path p = root.resolve(d);
                if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createDirectory(p);
                }
            }
            checkTopDirs(root);
            StoreImpl s = new StoreImpl(root, null);
            try {
                s.locked(() -> {
                    try {
                        if (!Files.exists(marker, LinkOption.NOFOLLOW_LINKS)) {
                            Path t = s.tmp.resolve(UUID.randomUUID() + ".marker");
                            DurableFiles.writeNewFile(t, MARKER_TEXT.getBytes(StandardCharsets.UTF_8));
                            Files.move(t, marker, StandardCopyOption.ATOMIC_MOVE);
                            DurableFiles.fsyncDir(root);
                        }
                        s.cleanTmp();
                        WorkArea.removeStale(s.work);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                    return null;
                });
            } catch (RuntimeException e) {
                s.close();
                throw e;
            }
            return s;
        } catch (IOException | UncheckedIOException e) {
            throw new SnapshotException("cannot open snapshot store " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Checks the marker without trusting it: a regular file, small, parsed as JSON. Its content is
     * never quoted, only the version number found.
     */
    private static void checkMarker(Path root, Path marker) throws IOException {
        byte[] bytes = SafeFiles.readCapped(marker, MARKER, MAX_MARKER_BYTES);
        JsonNode n;
        try {
            n = MARKER_JSON.readTree(bytes);
        } catch (IOException e) {
            n = null;
        }
        if (n == null || !n.isObject() || !"ignition-snapshot-store".equals(n.path("format").asText(null))) {
            throw new SnapshotException("refusing to use " + root + " as a snapshot store: its " + MARKER
                    + " is not an Ignition store marker");
        }
        JsonNode v = n.get("formatVersion");
        if (v == null || !v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() != 1) {
            throw new SnapshotException("store " + root + " has an unsupported " + MARKER + " (formatVersion "
                    + (v != null && v.isIntegralNumber() ? v.asText() : "missing or not an integer")
                    + "; this version of Ignition reads store format 1)");
        }
    }

    /**
     * The store's top-level folders must be directories of the store itself: a link would send
     * every read (and the cleanup of tmp/ and work/) to another place. Checked on open and before
     * each operation, which costs four lstat calls.
     */
    private static void checkTopDirs(Path root) throws IOException {
        for (String d : TOP_DIRS) {
            try {
                SafeFiles.requireDirectory(root.resolve(d), d + "/ of store " + root);
            } catch (NoSuchFileException e) {
                // A read-only store may lack tmp/ and work/ (they are created by a writer's open).
                if (d.equals("layers") || d.equals("names")) {
                    throw new SafeFiles.Refused(d + "/ of store " + root + " is missing");
                }
            }
        }
    }

    /**
     * {@link #checkTopDirs}, plus the marker and store.lock, which an open store has: each must
     * still be a regular file of the store (the marker is only read by open, so this is where a
     * later link or FIFO shows).
     */
    private void checkStoreFiles() throws IOException {
        checkTopDirs(root);
        for (String f : List.of(MARKER, "store.lock")) {
            try {
                SafeFiles.regularFileSize(root.resolve(f), f + " of store " + root);
            } catch (NoSuchFileException e) {
                if (f.equals(MARKER) || readOnly == null) { // a read-only store may never have had a writer
                    throw new SafeFiles.Refused(f + " of store " + root + " is missing");
                }
            }
        }
    }

    /** {@link #checkStoreFiles} for an operation: the failure is a {@link SnapshotException}. */
    private void guard() {
        try {
            checkStoreFiles();
        } catch (IOException e) {
            throw new SnapshotException("snapshot store " + root + " is damaged: " + e.getMessage(), e);
        }
    }

    /**
     * Why this process cannot write the store at {@code root}, or null when it can. Probed by
     * creating a file in {@code tmp/} (access(2) is not enough: root passes it on read-only mounts).
     */
    private static @Nullable String unwritable(Path root) {
        Path probe = root.resolve("tmp").resolve(UUID.randomUUID() + ".probe");
        try {
            if (Files.exists(probe.getParent(), LinkOption.NOFOLLOW_LINKS)
                    && !Files.isDirectory(probe.getParent(), LinkOption.NOFOLLOW_LINKS)) {
                return null; // never probe through a link: the writable path refuses such a tmp/ (rule 0)
            }
            Files.createDirectories(probe.getParent());
            Files.createFile(probe);
            Files.delete(probe);
            return null;
        } catch (FileSystemException e) {
            String reason = e.getReason() != null ? e.getReason() : e.toString();
            return reason.contains("Read-only file system") ? "it is on a read-only file system"
                    : "it is not writable (" + reason + ")";
        } catch (IOException e) {
            return "it is not writable (" + e + ")";
        }
    }

    public Path root() {
        return root;
    }

    /** Whether the store refuses writes (read-only media or permissions). */
    public boolean readOnly() {
        return readOnly != null;
    }

    /**
     * A new locked directory for a restored VM's working disk copies: under {@code work/}, or
     * under the system's temporary directory when the store is read-only.
     */
    public WorkArea.Lease newWorkDir() {
        ensureOpen("create a working directory");
        guard();
        if (readOnly != null) {
            try {
                Path fallback = Path.of(System.getProperty("java.io.tmpdir"), "ignition-work");
                Files.createDirectories(fallback);
                return WorkArea.create(fallback);
            } catch (IOException e) {
                throw new SnapshotException("store " + root + " is read-only and no working directory can be"
                        + " created under " + System.getProperty("java.io.tmpdir") + ": " + e, e);
            }
        }
        return WorkArea.create(work);
    }

    /** Refuses {@code operation} on a closed store, naming it. */
    private void ensureOpen(String operation) {
        if (closed) {
            throw new IllegalStateException("cannot " + operation + ": snapshot store " + root + " is closed");
        }
    }

    private void ensureWritable(String operation) {
        ensureOpen(operation);
        if (readOnly != null) {
            throw new SnapshotException("cannot " + operation + ": snapshot store " + root + " is read-only ("
                    + readOnly + ")");
        }
    }

    private void cleanTmp() throws IOException {
        int n = 0;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(tmp)) {
            for (Path p : s) {
                DurableFiles.deleteTree(p);
                n++;
            }
        }
        if (n > 0) {
            LOG.info("Removed {} leftover(s) of interrupted writes or deletions from {}", n, tmp);
            DurableFiles.fsyncDir(tmp);
        }
    }

    /** Runs {@code body} holding the store's writer lock (this JVM's, then the file lock). */
    private <T> T locked(Supplier<T> body) {
        jvmLock.lock();
        try {
            FileLock lock;
            if (closed) {
                throw new IllegalStateException("snapshot store " + root + " was closed");
            }
            try {
                FileChannel ch = lockChannel;
                if (ch == null || !ch.isOpen()) {
                    ch = openLockFile(root); // closed by an earlier caller's interrupt
                    lockChannel = ch;
                }
                lock = ch.lock();
            } catch (IOException e) {
                throw new SnapshotException("cannot lock " + root.resolve("store.lock") + ": " + e, e);
            }
            try {
                return body.get();
            } finally {
                try {
                    lock.release();
                } catch (IOException e) {
                    LOG.warn("Cannot release the lock on {}: {}", root.resolve("store.lock"), e.toString());
                }
            }
        } finally {
            jvmLock.unlock();
        }
    }

    // ---- names ---------------------------------------------------------------------------

    public static void checkName(String name) {
        if (!NAME.matcher(name).matches()) {
            throw new InvalidSnapshotNameException(name);
        }
    }

    private Path namePath(String name) {
        checkName(name);
        Path p = names.resolve(name);
        if (!p.getParent().equals(names)) {
            throw new InvalidSnapshotNameException(name);
        }
        return p;
    }

    private @Nullable LayerId readRefOrNull(String name) {
        Path p = namePath(name);
        byte[] b;
        try {
            b = SafeFiles.readCapped(p, "its name file names/" + name, MAX_NAME_FILE_BYTES);
        } catch (NoSuchFileException e) {
            return null;
        } catch (SafeFiles.Refused e) {
            throw new CorruptNameException(name, e.getMessage());
        } catch (ClosedByInterruptException e) {
            // Says nothing about the name file (the interrupt stays pending).
            throw new SnapshotException("interrupted while reading the name file of snapshot '" + name + "'", e);
        } catch (IOException e) {
            throw new CorruptNameException(name, "its name file names/" + name + " cannot be read: " + e);
        }
        String text = new String(b, StandardCharsets.US_ASCII).strip();
        if (!LayerId.isValid(text)) {
            throw new CorruptNameException(name, "name file " + p + " does not hold a layer id");
        }
        return new LayerId(text);
    }

    private LayerId readRef(String name) {
        guard();
        LayerId id = readRefOrNull(name);
        if (id == null) {
            throw new NoSuchSnapshotException(name, root);
        }
        return id;
    }

    private List<String> nameList() {
        guard();
        List<String> out = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(names)) {
            for (Path p : s) {
                String n = p.getFileName().toString();
                if (NAME.matcher(n).matches()) {
                    out.add(n);
                }
            }
        } catch (IOException e) {
            throw new SnapshotException("cannot list " + names + ": " + e, e);
        }
        out.sort(null);
        return out;
    }

    private List<LayerId> layerList() {
        guard();
        List<LayerId> out = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(layers)) {
            for (Path p : s) {
                String n = p.getFileName().toString();
                if (LayerId.isValid(n)) {
                    out.add(new LayerId(n));
                }
            }
        } catch (IOException e) {
            throw new SnapshotException("cannot list " + layers + ": " + e, e);
        }
        return out;
    }

    private void publishName(String name, LayerId id) throws IOException {
        Path t = tmp.resolve(UUID.randomUUID() + ".ref");
        DurableFiles.writeNewFile(t, (id.hex() + "\n").getBytes(StandardCharsets.US_ASCII));
        Files.move(t, namePath(name), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        DurableFiles.fsyncDir(names);
    }

    // ---- writing -------------------------------------------------------------------------

    public WriteResult writeFull(String name, GuestMemory memory, Map<String, byte[]> state, List<Disk> disks) {
        ensureWritable("write snapshot '" + name + "'");
        checkName(name);
        long t0 = System.nanoTime();
        return locked(() -> {
            requireAbsent(name);
            return publish(name, t0, (w, dir) -> w.writeFull(dir, memory, state, disks));
        });
    }

    public WriteResult writeDiff(String name, String parentName, GuestMemory memory, DirtyPages dirty,
            Map<String, byte[]> state, List<Disk> disks) {
        ensureWritable("write snapshot '" + name + "'");
        checkDiffNames(name, parentName);
        long t0 = System.nanoTime();
        return locked(() -> {
            requireAbsent(name);
            LayerId parentId = readRef(parentName);
            Layout layout = Layout.of(memory);
            checkParent(name, parentName, parentId, layout);
            PageRuns runs;
            try {
                runs = DiffPacker.runs(layout, dirty);
            } catch (IllegalArgumentException e) {
                throw new SnapshotConflictException("cannot write diff '" + name + "': " + e.getMessage());
            }
            return publish(name, t0, (w, dir) -> w.writeDiff(dir, parentId, memory, layout, runs, state, disks));
        });
    }

    private static void checkDiffNames(String name, String parentName) {
        checkName(name);
        checkName(parentName);
        if (name.equals(parentName)) {
            throw new SnapshotConflictException("a diff cannot take its parent's name '" + name + "': publishing it"
                    + " would move the name off the parent it depends on; choose a new name");
        }
    }

    /**
     * Layouts of layers whose whole chain validated (as a diff's parent, before the VM paused).
     * Layers are immutable and named by their manifest's hash, so a diff written under the lock
     * only checks that its parent is still there: re-reading every manifest down to the root again
     * cost the paused guest time in proportion to the chain's depth.
     */
    private final Map<LayerId, Layout> checkedParents = new ConcurrentHashMap<>();

    /** The parent's chain validates and its memory layout is {@code layout}'s. */
    private void checkParent(String name, String parentName, LayerId parentId, Layout layout) {
        Layout parentLayout = checkedParents.get(parentId);
        if (parentLayout == null || !Files.isDirectory(layers.resolve(parentId.hex()), LinkOption.NOFOLLOW_LINKS)) {
            parentLayout = resolver.resolve(parentId, Verification.METADATA).getFirst().layout();
            if (checkedParents.size() > CHECKED_PARENTS_MAX) {
                checkedParents.clear();
            }
            checkedParents.put(parentId, parentLayout);
        }
        if (!layout.sameAs(parentLayout)) {
            throw new SnapshotConflictException("cannot write diff '" + name + "': the memory's layout " + layout
                    + " differs from parent '" + parentName + "''s " + parentLayout);
        }
    }

    private static final int CHECKED_PARENTS_MAX = 1024;

    /**
     * Checks what {@link #writeFull} ({@code parentName} null) or {@link #writeDiff} would refuse
     * before any memory is captured: the store open and writable, the names, a conflict, the
     * parent's existence, chain and layout. Takes no lock; the write checks again under it.
     */
    public void checkWritable(String name, @Nullable String parentName, GuestMemory memory) {
        ensureWritable("write snapshot '" + name + "'");
        checkName(name);
        requireAbsent(name);
        if (parentName != null) {
            checkDiffNames(name, parentName);
            checkParent(name, parentName, readRef(parentName), Layout.of(memory));
        }
    }

    /** Whether a snapshot called {@code name} exists (its name file; the chain is not checked). */
    public boolean contains(String name) {
        ensureOpen("look up snapshot '" + name + "'");
        return readRefOrNull(name) != null;
    }

    @FunctionalInterface
    private interface LayerBody {
        Manifest write(LayerWriter writer, Path dir) throws IOException;
    }

    private void requireAbsent(String name) {
        if (Files.exists(namePath(name), LinkOption.NOFOLLOW_LINKS)) {
            throw new SnapshotConflictException("snapshot '" + name + "' already exists in " + root
                    + "; delete it first or choose another name");
        }
    }

    /** Writes a layer under tmp/, fsyncs, renames it into layers/ and publishes the name. */
    private WriteResult publish(String name, long t0, LayerBody body) {
        guard();
        Path work = tmp.resolve(UUID.randomUUID() + ".layer");
        LayerWriter w = new LayerWriter();
        try {
            Files.createDirectory(work);
            WriteFaults.at(WriteFaults.Step.FILES);
            Manifest m = body.write(w, work);
            long p0 = System.nanoTime();
            byte[] bytes = ManifestCodec.encode(m);
            WriteFaults.at(WriteFaults.Step.MANIFEST);
            DurableFiles.writeNewFile(work.resolve(Manifest.MANIFEST), bytes);
            DurableFiles.fsyncDir(work);
            LayerId id = new LayerId(Checksums.sha256Hex(bytes));
            Path dest = layers.resolve(id.hex());
            boolean dedup = Files.isDirectory(dest, LinkOption.NOFOLLOW_LINKS);
            if (dedup) {
                DurableFiles.deleteTree(work);
            } else {
                try {
                    WriteFaults.at(WriteFaults.Step.RENAME);
                    Files.move(work, dest, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException | FileAlreadyExistsException e) {
                    throw new SnapshotException("cannot publish layer " + id + ": " + e, e);
                }
                DurableFiles.fsyncDir(layers);
            }
            WriteFaults.at(WriteFaults.Step.NAME);
            publishName(name, id);
            WriteFaults.at(WriteFaults.Step.PUBLISHED);
            long end = System.nanoTime();
            ResolvedLayer layer = new ResolvedLayer(id, dest, m, Layout.of(m.layout(), m.pageSize()), null);
            return new WriteResult(name, layer.info(), m.storedPages(), dedup,
                    new WriteTimings(w.writeNanos(), w.syncNanos(), end - p0, end - t0));
        } catch (IOException e) {
            DurableFiles.deleteTree(work);
            throw new SnapshotException("cannot write snapshot '" + name + "' in " + root + ": " + e, e);
        } catch (RuntimeException e) {
            DurableFiles.deleteTree(work);
            throw e;
        }
    }

    // ---- reading -------------------------------------------------------------------------

    public List<LayerInfo> resolve(String name) {
        ensureOpen("resolve snapshot '" + name + "'");
        return resolver.resolve(readRef(name), Verification.METADATA).stream().map(ResolvedLayer::info).toList();
    }

    public LayerInfo inspect(String name) {
        ensureOpen("inspect snapshot '" + name + "'");
        return resolver.load(readRef(name), false).info();
    }

    public LayerInfo inspect(LayerId id) {
        ensureOpen("inspect layer " + id);
        guard();
        return resolver.load(id, false).info();
    }

    public List<SnapshotInfo> list() {
        ensureOpen("list snapshots");
        List<SnapshotInfo> out = new ArrayList<>();
        for (String n : nameList()) {
            LayerId id = readRefOrNull(n);
            if (id == null) {
                continue;
            }
            List<LayerInfo> chain = resolve(n);
            Instant t;
            try {
                t = Files.getLastModifiedTime(names.resolve(n), LinkOption.NOFOLLOW_LINKS).toInstant();
            } catch (IOException e) {
                t = Instant.EPOCH;
            }
            out.add(new SnapshotInfo(n, chain.getFirst(), chain.size(), t));
        }
        return out;
    }

    public RestoredSnapshot restore(String name, Verification verification) {
        ensureOpen("restore snapshot '" + name + "'");
        long t0 = System.nanoTime();
        LayerId id = readRef(name);
        List<ResolvedLayer> chain = resolver.resolve(id, verification);
        Map<String, byte[]> state = ChainResolver.readState(chain.getFirst());
        Restorer.checkHostPageSize(chain.getFirst(), Libc.pageSize());
        long t1 = System.nanoTime();
        Restorer.Result r = Restorer.restore(chain);
        long end = System.nanoTime();
        RestoreTimings timings = new RestoreTimings(t1 - t0, r.mapNanos(), r.overlayNanos(), end - t0, chain.size(),
                r.pagesOverlaid());
        return new RestoredSnapshot(name, r.memory(), state, chain.stream().map(ResolvedLayer::info).toList(), timings);
    }

    // ---- verify --------------------------------------------------------------------------

    public VerifyReport verify() {
        ensureOpen("verify");
        // No writer can change a read-only store, so reading it needs no lock (and cannot take one).
        return readOnly != null ? verifyUnlocked() : locked(this::verifyUnlocked);
    }

    private VerifyReport verifyUnlocked() {
        List<VerifyReport.Problem> problems = new ArrayList<>();
        try {
            checkStoreFiles();
            checkMarker(root, root.resolve(MARKER)); // read by open only: a later change shows here
        } catch (SnapshotException e) {
            problems.add(new VerifyReport.Problem("store", e.getMessage()));
            return new VerifyReport(0, 0, problems);
        } catch (IOException e) {
            // Nothing below a linked or missing top-level folder belongs to the store: report, read nothing.
            problems.add(new VerifyReport.Problem("store", e.getMessage()));
            return new VerifyReport(0, 0, problems);
        }
        List<LayerId> all = layerList();
        Set<LayerId> present = new HashSet<>(all);
        try (DirectoryStream<Path> s = Files.newDirectoryStream(layers)) {
            for (Path p : s) {
                if (!LayerId.isValid(p.getFileName().toString())) {
                    problems.add(new VerifyReport.Problem("store", "unexpected entry " + p + " in layers/"));
                }
            }
        } catch (IOException e) {
            problems.add(new VerifyReport.Problem("store", "cannot list layers/: " + e));
        }
        for (LayerId id : all) {
            try {
                ResolvedLayer l = resolver.load(id, true);
                ChainResolver.readState(l);
                LayerId parent = l.manifest().parent();
                if (parent != null && !present.contains(parent)) {
                    problems.add(new VerifyReport.Problem("layer " + id, "its parent layer " + parent
                            + " is missing from the store"));
                }
            } catch (SnapshotException e) {
                problems.add(new VerifyReport.Problem("layer " + id, reason(e)));
            }
        }
        List<String> ns = nameList();
        for (String n : ns) {
            try {
                resolver.resolve(readRef(n), Verification.METADATA);
            } catch (SnapshotException e) {
                problems.add(new VerifyReport.Problem("snapshot '" + n + "'", e.getMessage()));
            }
        }
        return new VerifyReport(all.size(), ns.size(), problems);
    }

    private static String reason(SnapshotException e) {
        return e instanceof CorruptLayerException c ? c.reason() : e.getMessage();
    }

    // ---- delete, gc, squash ----------------------------------------------------------------

    public DeleteResult delete(String name, boolean cascade) {
        ensureWritable("delete snapshot '" + name + "'");
        checkName(name);
        return locked(() -> {
            LayerId id = readRef(name);
            Map<String, LayerId> refs = new TreeMap<>();
            for (String n : nameList()) {
                LayerId r = readRefOrNull(n);
                if (r != null) {
                    refs.put(n, r);
                }
            }
            boolean sharedByOtherName = refs.entrySet().stream()
                    .anyMatch(e -> !e.getKey().equals(name) && e.getValue().equals(id));
            Map<LayerId, List<LayerId>> children = childrenMap();
            Set<LayerId> descendants = new HashSet<>();
            Deque<LayerId> todo = new ArrayDeque<>(children.getOrDefault(id, List.of()));
            while (!todo.isEmpty()) {
                LayerId c = todo.pop();
                if (descendants.add(c)) {
                    todo.addAll(children.getOrDefault(c, List.of()));
                }
            }
            try {
                if (sharedByOtherName) {
                    Files.delete(namePath(name));
                    DurableFiles.fsyncDir(names);
                    return new DeleteResult(List.of(name), List.of());
                }
                Set<LayerId> reachableWithout = reachable(refs.entrySet().stream()
                        .filter(e -> !e.getKey().equals(name)).map(Map.Entry::getValue).toList());
                List<String> dependentNames = new ArrayList<>();
                for (var e : refs.entrySet()) {
                    if (!e.getKey().equals(name) && descendants.contains(e.getValue())) {
                        dependentNames.add(e.getKey());
                    }
                }
                boolean neededByOthers = reachableWithout.contains(id);
                if (neededByOthers && !cascade) {
                    throw new SnapshotConflictException("snapshot '" + name + "' (layer " + id.shortForm()
                            + ") has descendants used by snapshots " + dependentNames
                            + "; delete those first or delete with cascade");
                }
                List<String> removedNames = new ArrayList<>();
                removedNames.add(name);
                if (cascade) {
                    removedNames.addAll(dependentNames);
                }
                for (String n : removedNames) {
                    Files.deleteIfExists(namePath(n));
                }
                DurableFiles.fsyncDir(names);
                // Remove what no remaining name reaches, children before parents.
                Set<LayerId> keep = reachable(refs.entrySet().stream()
                        .filter(e -> !removedNames.contains(e.getKey())).map(Map.Entry::getValue).toList());
                List<LayerId> removed = new ArrayList<>();
                Set<LayerId> doomed = new HashSet<>(descendants);
                doomed.add(id);
                for (LayerId l : childrenFirst(doomed, children)) {
                    if (!keep.contains(l) && removeLayer(l)) {
                        removed.add(l);
                    }
                }
                return new DeleteResult(removedNames, removed);
            } catch (IOException e) {
                throw new SnapshotException("cannot delete snapshot '" + name + "': " + e, e);
            }
        });
    }

    /** Parent to children over every layer whose manifest decodes; undecodable layers are skipped. */
    private Map<LayerId, List<LayerId>> childrenMap() {
        Map<LayerId, List<LayerId>> out = new HashMap<>();
        for (LayerId l : layerList()) {
            try {
                LayerId p = resolver.manifestOnly(l).parent();
                if (p != null) {
                    out.computeIfAbsent(p, k -> new ArrayList<>()).add(l);
                }
            } catch (CorruptLayerException e) {
                LOG.warn("Ignoring unreadable layer while looking for children: {}", e.getMessage());
            }
        }
        return out;
    }

    /**
     * Every layer reachable from {@code heads} through parent links. A reachable manifest that
     * cannot be decoded stops the walk with an exception: guessing could delete a needed layer.
     */
    private Set<LayerId> reachable(List<LayerId> heads) {
        Set<LayerId> seen = new HashSet<>();
        Deque<LayerId> todo = new ArrayDeque<>(heads);
        while (!todo.isEmpty()) {
            LayerId l = todo.pop();
            if (!seen.add(l)) {
                continue;
            }
            if (!Files.isDirectory(layers.resolve(l.hex()), LinkOption.NOFOLLOW_LINKS)) {
                continue;
            }
            LayerId p = resolver.manifestOnly(l).parent();
            if (p != null) {
                todo.push(p);
            }
        }
        return seen;
    }

    /** Orders {@code set} so every layer comes after its children: a crash never leaves an orphan. */
    private static List<LayerId> childrenFirst(Set<LayerId> set, Map<LayerId, List<LayerId>> children) {
        List<LayerId> out = new ArrayList<>();
        Set<LayerId> done = new HashSet<>();
        for (LayerId start : set.stream().sorted(Comparator.comparing(LayerId::hex)).toList()) {
            Deque<Map.Entry<LayerId, Boolean>> stack = new ArrayDeque<>();
            stack.push(Map.entry(start, false));
            while (!stack.isEmpty()) {
                var e = stack.pop();
                LayerId l = e.getKey();
                if (e.getValue()) {
                    out.add(l);
                    continue;
                }
                if (!done.add(l)) {
                    continue;
                }
                stack.push(Map.entry(l, true));
                for (LayerId c : children.getOrDefault(l, List.of())) {
                    if (set.contains(c) && !done.contains(c)) {
                        stack.push(Map.entry(c, false));
                    }
                }
            }
        }
        return out;
    }

    /** Moves a layer into tmp/ (atomic, so a crash leaves it whole or gone) and deletes it. */
    private boolean removeLayer(LayerId id) throws IOException {
        Path dir = layers.resolve(id.hex());
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        Path trash = tmp.resolve(id.hex() + "." + UUID.randomUUID() + ".trash");
        Files.move(dir, trash, StandardCopyOption.ATOMIC_MOVE);
        DurableFiles.fsyncDir(layers);
        DurableFiles.deleteTree(trash);
        return true;
    }

    private static long dirSize(Path dir) {
        long total = 0;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                total += SafeFiles.lstat(p).size();
            }
        } catch (IOException e) {
            return total;
        }
        return total;
    }

    public GcResult gc() {
        ensureWritable("garbage-collect");
        return locked(() -> {
            List<LayerId> heads = new ArrayList<>();
            for (String n : nameList()) {
                LayerId r = readRefOrNull(n);
                if (r != null) {
                    heads.add(r);
                }
            }
            Set<LayerId> keep;
            try {
                keep = reachable(heads);
            } catch (CorruptLayerException e) {
                throw new SnapshotException("garbage collection stopped, nothing was deleted: a reachable layer's"
                        + " parent cannot be determined (" + e.getMessage() + ")", e);
            }
            List<LayerId> removed = new ArrayList<>();
            long freed = 0;
            Set<LayerId> garbage = new HashSet<>(layerList());
            garbage.removeAll(keep);
            try {
                for (LayerId l : childrenFirst(garbage, childrenMap())) {
                    long size = dirSize(layers.resolve(l.hex()));
                    if (removeLayer(l)) {
                        removed.add(l);
                        freed += size;
                    }
                }
            } catch (IOException e) {
                throw new SnapshotException("garbage collection failed after removing " + removed.size()
                        + " layers: " + e, e);
            }
            return new GcResult(removed, freed);
        });
    }

    public WriteResult squash(String name, String newName, SquashMode mode) {
        ensureWritable("squash snapshot '" + name + "'");
        checkName(name);
        checkName(newName);
        long t0 = System.nanoTime();
        return locked(() -> {
            if (!newName.equals(name)) {
                requireAbsent(newName);
            }
            List<ResolvedLayer> chain = resolver.resolve(readRef(name), Verification.METADATA);
            Map<String, byte[]> state = ChainResolver.readState(chain.getFirst());
            List<Disk> disks = chain.getFirst().info().disks();
            if (mode == SquashMode.DIFF && chain.size() == 1) {
                throw new SnapshotConflictException("snapshot '" + name + "' is a single full layer; there are no"
                        + " diffs to squash");
            }
            Restorer.Result restored = Restorer.restore(chain);
            try (GuestMemory memory = restored.memory()) {
                if (mode == SquashMode.FULL) {
                    return publish(newName, t0, (w, dir) -> w.writeFull(dir, memory, state, disks));
                }
                ResolvedLayer root = chain.getLast();
                Layout layout = root.layout();
                long[] union = new long[(layout.totalPages() + 63) / 64];
                for (ResolvedLayer l : chain) {
                    PageRuns runs = l.runs();
                    if (runs == null) {
                        continue;
                    }
                    for (int r = 0; r < runs.runCount(); r++) {
                        for (int p = runs.start(r); p < runs.start(r) + runs.count(r); p++) {
                            union[p >>> 6] |= 1L << (p & 63);
                        }
                    }
                }
                PageRuns runs = new PageRuns(64);
                for (int region = 0; region < layout.regions().size(); region++) {
                    int first = layout.firstPage(region);
                    boolean startRegion = true;
                    for (int p = first; p < first + layout.pagesIn(region); p++) {
                        if ((union[p >>> 6] & (1L << (p & 63))) != 0) {
                            int n = runs.runCount();
                            if (!startRegion && n > 0 && runs.start(n - 1) + runs.count(n - 1) == p) {
                                runs.extendLast(1);
                            } else {
                                runs.addRun(p, 1);
                            }
                            startRegion = false;
                        }
                    }
                }
                return publish(newName, t0, (w, dir) -> w.writeDiff(dir, root.id(), memory, layout, runs, state, disks));
            }
        });
    }

    /** Idempotent; every later call but close() is refused. */
    @Override
    public void close() {
        closed = true;
        jvmLock.lock();
        try {
            FileChannel ch = lockChannel;
            lockChannel = null;
            if (ch != null) {
                ch.close();
            }
        } catch (IOException e) {
            throw new SnapshotException("cannot close " + root.resolve("store.lock") + ": " + e, e);
        } finally {
            jvmLock.unlock();
        }
    }
}
