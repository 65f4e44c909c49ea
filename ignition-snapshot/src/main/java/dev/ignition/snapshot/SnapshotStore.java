package dev.ignition.snapshot;

import dev.ignition.device.Disk;
import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.internal.StoreImpl;
import dev.ignition.snapshot.internal.WorkArea;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A snapshot store: a directory of immutable, content-addressed layers (full memory images and
 * packed diffs, each with state blobs) and names pointing at them.
 *
 * <pre>{@code
 * try (SnapshotStore store = SnapshotStore.open(Path.of("snapshots"))) {
 *     store.writeFull("booted", memory, Map.of("vcpu0", regs));
 *     // ... the guest runs; collect its dirty pages ...
 *     store.writeDiff("logged-in", "booted", memory, DirtyPages.drainHost(memory), state);
 *     try (RestoredSnapshot r = store.restore("logged-in")) {
 *         GuestMemory ram = r.memory();          // map into a new VM as guest RAM
 *         byte[] regs = r.state().get("vcpu0");
 *     }
 * }
 * }</pre>
 *
 * <p>Writes are crash-safe (temporary directory, fsync of files and directories, atomic rename)
 * and serialised across threads and processes by a lock on {@code store.lock}. Reads take no lock:
 * layers never change once published. Every file is treated as untrusted: restore validates the
 * whole chain before mapping anything, and no file or folder of the store is opened through a
 * symbolic link or if it is a special file (the threat model is in the format document). The on-disk format is specified in
 * {@code docs/snapshot-format.md}.
 */
public final class SnapshotStore implements AutoCloseable {
    private final StoreImpl impl;

    private SnapshotStore(StoreImpl impl) {
        this.impl = impl;
    }

    /**
     * Opens the store at {@code dir}, creating it if needed, and removes leftovers of writes or
     * deletions that a crash interrupted (waiting for a live writer in another process first).
     *
     * @throws SnapshotException if {@code dir} is a non-empty directory that is not a store
     */
    public static SnapshotStore open(Path dir) {
        return new SnapshotStore(StoreImpl.open(dir));
    }

    /** The store's directory. */
    public Path directory() {
        return impl.root();
    }

    /**
     * Writes a full layer of {@code memory} (all-zero pages are not stored) with {@code state},
     * and publishes it as {@code name}. The VM must be paused.
     *
     * @throws SnapshotConflictException if {@code name} exists
     * @throws InvalidSnapshotNameException if {@code name} is not allowed
     */
    public WriteResult writeFull(String name, GuestMemory memory, Map<String, byte[]> state) {
        return impl.writeFull(name, memory, state, List.of());
    }

    /**
     * {@link #writeFull(String, GuestMemory, Map)} with disk images: each is cloned into the layer
     * ({@link FileClone}: {@code FICLONE}/{@code clonefile} where the filesystem can, else a copy,
     * logged) and checksummed, so the layer keeps the disks as they are now. Nothing may write the
     * images until this returns (pause the VM). {@link RestoredSnapshot#disks()} gives them back.
     */
    public WriteResult writeFull(String name, GuestMemory memory, Map<String, byte[]> state, List<Disk> disks) {
        return impl.writeFull(name, memory, state, disks);
    }

    /**
     * Writes a packed diff of the pages in {@code dirty} over the snapshot {@code parentName}
     * and publishes it as {@code name}. The caller guarantees that every page written since the
     * parent's memory was captured (or restored) is in {@code dirty}.
     *
     * @throws SnapshotConflictException if {@code name} exists or equals {@code parentName}, or if
     *     the memory's layout or page size differ from the parent's
     * @throws NoSuchSnapshotException if the parent does not exist
     * @throws CorruptLayerException if the parent's chain fails validation
     */
    public WriteResult writeDiff(String name, String parentName, GuestMemory memory, DirtyPages dirty,
            Map<String, byte[]> state) {
        return impl.writeDiff(name, parentName, memory, dirty, state, List.of());
    }

    /**
     * {@link #writeDiff(String, String, GuestMemory, DirtyPages, Map)} with disk images, cloned
     * into the layer whole as by {@link #writeFull(String, GuestMemory, Map, List)} (disks are not
     * diffed: each layer holds complete images).
     */
    public WriteResult writeDiff(String name, String parentName, GuestMemory memory, DirtyPages dirty,
            Map<String, byte[]> state, List<Disk> disks) {
        return impl.writeDiff(name, parentName, memory, dirty, state, disks);
    }

    /** Restores {@code name} after validating its chain's metadata ({@link Verification#METADATA}). */
    public RestoredSnapshot restore(String name) {
        return impl.restore(name, Verification.METADATA);
    }

    /**
     * Validates the chain of {@code name}, then maps its root image copy-on-write and overlays
     * each diff page once from the newest layer holding it. Nothing is mapped unless the whole
     * chain validates.
     *
     * @throws CorruptLayerException naming the layer and the problem ({@link CorruptNameException}
     *     when the name file itself is damaged: a link, a special file, too large, no layer id)
     * @throws SnapshotException naming the entry when a top-level folder, the marker or
     *     {@code store.lock} is not a directory or regular file of the store (for example a link)
     */
    public RestoredSnapshot restore(String name, Verification verification) {
        return impl.restore(name, verification);
    }

    /** Every named snapshot, sorted by name. */
    public List<SnapshotInfo> list() {
        return impl.list();
    }

    /** The layer {@code name} points at (its manifest, id and files checked, not its parents). */
    public LayerInfo inspect(String name) {
        return impl.inspect(name);
    }

    /** A layer by id (its manifest, id and files checked, not its parents). */
    public LayerInfo inspect(LayerId id) {
        return impl.inspect(id);
    }

    /** The validated chain of {@code name}, leaf first, root last. */
    public List<LayerInfo> resolve(String name) {
        return impl.resolve(name);
    }

    /**
     * Checks the store's folders and marker, every layer (every file's checksum included) and every
     * name's chain: a clean report means every name restores its layer's exact bytes under either
     * {@link Verification} policy. Problems are reported, not thrown.
     */
    public VerifyReport verify() {
        return impl.verify();
    }

    /**
     * Deletes the snapshot {@code name} and the layers no other snapshot needs. When other
     * snapshots are built on it, refuses unless {@code cascade}, which deletes them too.
     *
     * @throws SnapshotConflictException if other snapshots depend on it and cascade is false
     */
    public DeleteResult delete(String name, boolean cascade) {
        return impl.delete(name, cascade);
    }

    /**
     * Squashes the chain of {@code name} into one layer published as {@code newName} (which may
     * be {@code name} itself, replacing it; the old layers then become garbage for {@link #gc()}).
     */
    public WriteResult squash(String name, String newName, SquashMode mode) {
        return impl.squash(name, newName, mode);
    }

    /** Removes layers that no snapshot name reaches. */
    public GcResult gc() {
        return impl.gc();
    }

    /** Checks, before a VM is paused, what a write of {@code name} (a diff over {@code parentName} if not null) would refuse. */
    void checkWritable(String name, @Nullable String parentName, GuestMemory memory) {
        impl.checkWritable(name, parentName, memory);
    }

    /** Whether {@code name} exists (its chain is not checked). */
    boolean contains(String name) {
        return impl.contains(name);
    }

    /** A new locked working directory under {@code work/}, deleted when the lease closes. */
    WorkArea.Lease newWorkDir() {
        return impl.newWorkDir();
    }

    /** Releases the store's lock file handle. Restored memories stay valid. */
    @Override
    public void close() {
        impl.close();
    }
}
