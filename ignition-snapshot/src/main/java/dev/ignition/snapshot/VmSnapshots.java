package dev.ignition.snapshot;

import dev.ignition.IllegalVmStateException;
import dev.ignition.SnapshotMismatchException;
import dev.ignition.VirtualMachine;
import dev.ignition.VmImage;
import dev.ignition.VmState;
import dev.ignition.device.Disk;
import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.MachineState;
import dev.ignition.internal.state.UnsupportedStateVersionException;
import dev.ignition.internal.vm.Capture;
import dev.ignition.internal.vm.MachineInternals;
import dev.ignition.internal.vm.SnapshotLineage;
import dev.ignition.memory.GuestMemory;
import dev.ignition.snapshot.internal.NativeClone;
import dev.ignition.snapshot.internal.SafeFiles;
import dev.ignition.snapshot.internal.WorkArea;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.UnaryOperator;
import org.jspecify.annotations.Nullable;

/**
 * Snapshots of live VMs into a {@link SnapshotStore}, and VMs restored or forked from them.
 *
 * <pre>{@code
 * try (SnapshotStore store = SnapshotStore.open(dir);
 *      VirtualMachine vm = VirtualMachine.builder().guest(TestGuests.counter())
 *              .trackDirtyPages(true).build()) {
 *     vm.start();
 *     VmSnapshots.snapshot(vm, store, "base");          // full: the VM's first snapshot
 *     VmSnapshots.snapshot(vm, store, "later");         // diff against "base"
 *     try (VirtualMachine copy = VmSnapshots.restore(store, "later", b -> b.trackDirtyPages(true))) {
 *         copy.start();                                 // continues where "later" was taken
 *     }
 * }
 * }</pre>
 *
 * <p>The guest is paused while its state is captured and its memory written (so the memory is
 * consistent), then resumes if it was running.
 *
 * <p><b>Disks.</b> A snapshot holds a clone of every disk attached to the VM, taken while it is
 * paused ({@code FICLONE}/{@code clonefile} where the filesystem can, else a copy, logged). A
 * restored VM attaches them by itself (do not add disks in {@code configure}): each writable disk
 * becomes a private working copy in the store's {@code work/} directory (so forks never share a
 * writable disk, and neither the snapshot nor the original image ever changes), deleted when the
 * VM closes; read-only disks are attached straight from the snapshot. To keep what a restored VM
 * wrote to its disks, snapshot it before closing it.
 */
public final class VmSnapshots {
    /** Which kind of layer to write. */
    public enum Kind {
        /** A diff against this VM's previous snapshot (or the one it was restored from) in the same store when it tracks dirty pages; otherwise full. */
        AUTO,
        FULL,
        DIFF
    }

    /**
     * What a snapshot did and cost.
     *
     * @param write the store's result; {@code write.timings().totalNanos()} is the seed's Snapshot-write-time
     * @param parent the parent snapshot for a diff, or null for a full one
     * @param paused how long the guest was paused (capture + write)
     * @param capture capturing vCPU, hypervisor and device state
     */
    public record Result(WriteResult write, @Nullable String parent, Duration paused,
            Duration capture) {
        public LayerKind kind() {
            return write.layer().kind();
        }

        /** Time to write the layer (memory, state, manifest, fsyncs, publication). */
        public Duration writeTime() {
            return Duration.ofNanos(write.timings().totalNanos());
        }
    }

    /** The store entry holding the VM state: one {@link MachineState} record. */
    static final String STATE_ENTRY = "ignition.vm";
    /** The header entry of VM-state format 1, recognised only to refuse it by name. */
    static final String LEGACY_META = "ignition.meta";

    private VmSnapshots() {}

    /** {@link #snapshot(VirtualMachine, SnapshotStore, String, Kind)} with {@link Kind#AUTO}. */
    public static Result snapshot(VirtualMachine vm, SnapshotStore store, String name) {
        return snapshot(vm, store, name, Kind.AUTO);
    }

    /**
     * Pauses {@code vm}, captures it and writes it into {@code store} as {@code name}, then
     * resumes it if it was running.
     *
     * <p>Everything that can be checked without the capture (the name, a conflict with an
     * existing snapshot, the parent of a diff and its chain, the VM's state, the store being open
     * and writable) is checked before the VM is paused. When the snapshot fails anyway (disk full,
     * an I/O error, a device that cannot save its state, interruption), nothing is lost: the
     * pages written since the last published snapshot still go into the next diff.
     *
     * @throws IllegalVmStateException if the VM was never started or is closed or exited
     * @throws DiffUnavailableException for a {@link Kind#DIFF} when the VM does not track dirty
     *     pages or has no previous snapshot in this store
     * @throws InvalidSnapshotNameException if {@code name} is not allowed
     * @throws SnapshotConflictException if {@code name} exists
     * @throws SnapshotException if the write fails (the store and the VM stay usable)
     */
    public static Result snapshot(VirtualMachine vm, SnapshotStore store, String name, Kind kind) {
        MachineInternals m = internals(vm);
        VmState before = vm.state();
        if (before != VmState.RUNNING && before != VmState.PAUSED) {
            throw new IllegalVmStateException("snapshot", before);
        }
        // The VM remembers which snapshot it descends from (the one it was restored from or last written as).
        SnapshotLineage lineage = m.lineage();
        String parent = lineage != null && lineage.store().equals(store.directory()) ? lineage.snapshot() : null;
        if (parent != null && !store.contains(parent)) {
            parent = null; // the parent was deleted: start a new chain
        }
        boolean diff = switch (kind) {
            case FULL -> false;
            case DIFF -> {
                if (!m.tracksDirtyPages()) {
                    throw new DiffUnavailableException("diff snapshots need dirty page tracking: build the VM with"
                            + " trackDirtyPages(true)");
                }
                if (parent == null) {
                    throw new DiffUnavailableException("no previous snapshot of this VM in " + store.directory()
                            + " to diff against: take a full one first");
                }
                yield true;
            }
            case AUTO -> m.tracksDirtyPages() && parent != null;
        };
        store.checkWritable(name, diff ? parent : null, m.memory());
        long t0 = System.nanoTime();
        // Closing the capture resumes the VM if it ran, and gives its dirty pages back unless published:
        // the lineage then still names the previous snapshot, and the next diff against it needs them.
        try (Capture c = m.capture()) {
            long captured = System.nanoTime();
            Map<String, byte[]> state = stateEntries(m, c);
            WriteResult w = diff && c.dirty() != null
                    ? store.writeDiff(name, parent, m.memory(), DirtyPages.of(c.dirty()), state, c.disks())
                    : store.writeFull(name, m.memory(), state, c.disks());
            c.published();
            m.lineage(new SnapshotLineage(store.directory(), name));
            return new Result(w, diff ? parent : null, Duration.ofNanos(System.nanoTime() - t0),
                    Duration.ofNanos(captured - t0));
        }
    }

    /**
     * Restores snapshot {@code name} as a new VM, configured further by {@code configure} (console,
     * dirty tracking, devices: the same devices as when it was taken, except disks, which come
     * from the snapshot as private working copies). The VM is built, not started.
     */
    public static VirtualMachine restore(SnapshotStore store, String name, UnaryOperator<VirtualMachine.Builder> configure) {
        VmImage image = image(store, name);
        VirtualMachine vm;
        try {
            vm = configure.apply(VirtualMachine.builder()).restoreFrom(image).build();
        } catch (RuntimeException e) {
            closeQuietly(image);
            try {
                image.release();
            } catch (RuntimeException r) {
                e.addSuppressed(r);
            }
            throw e;
        }
        internals(vm).lineage(new SnapshotLineage(store.directory(), name));
        return vm;
    }

    /**
     * {@code count} VMs restored from the same snapshot, each with private copy-on-write memory;
     * built, not started. On failure the ones already built are closed.
     */
    public static List<VirtualMachine> fork(SnapshotStore store, String name, int count,
            UnaryOperator<VirtualMachine.Builder> configure) {
        if (count < 1) {
            throw new IllegalArgumentException("count must be at least 1, was " + count);
        }
        List<VirtualMachine> vms = new ArrayList<>(count);
        try {
            for (int i = 0; i < count; i++) {
                vms.add(restore(store, name, configure));
            }
            return vms;
        } catch (RuntimeException e) {
            vms.forEach(VirtualMachine::close);
            throw e;
        }
    }

    /**
     * An image of snapshot {@code name} for {@link VirtualMachine.Builder#restoreFrom(VmImage)}.
     * Its memory is mapped now (copy-on-write) and its writable disks are cloned into working
     * copies now; the VM built from it owns both and deletes the copies when it closes. An image
     * no VM is built from must be {@link VmImage#release() released} and its memory closed.
     */
    public static VmImage image(SnapshotStore store, String name) {
        RestoredSnapshot r = store.restore(name);
        WorkArea.Lease[] lease = new WorkArea.Lease[1];
        try {
            List<Disk> disks = workingDisks(store, r, lease);
            return toImage(r, disks, lease[0]);
        } catch (RuntimeException e) {
            r.close();
            if (lease[0] != null) {
                lease[0].close();
            }
            throw e;
        }
    }

    /** The snapshot's disks for a new VM: writable ones cloned into a working directory. */
    private static List<Disk> workingDisks(SnapshotStore store, RestoredSnapshot r, WorkArea.Lease[] lease) {
        List<Disk> out = new ArrayList<>();
        for (int i = 0; i < r.disks().size(); i++) {
            Disk d = r.disks().get(i);
            if (d.readOnly()) {
                requireRegular(r, d);
                out.add(d); // the guest cannot write it: the layer's file serves
                continue;
            }
            if (lease[0] == null) {
                lease[0] = store.newWorkDir();
            }
            Path copy = lease[0].dir().resolve("disk" + i + ".img");
            NativeClone.cloneFromStore(d.image(), copy);
            out.add(new Disk(copy, false, d.id()));
        }
        return List.copyOf(out);
    }

    /**
     * A read-only disk is opened by the disk device, which follows links like any user image:
     * check again, just before, that the layer's file is still a regular file of the store.
     */
    private static void requireRegular(RestoredSnapshot r, Disk d) {
        try {
            SafeFiles.regularFileSize(d.image(), d.image().getFileName().toString());
        } catch (IOException e) {
            throw new CorruptLayerException(r.layer().id().hex(), String.valueOf(e.getMessage()), e);
        }
    }

    private static VmImage toImage(RestoredSnapshot r, List<Disk> disks, WorkArea.@Nullable Lease lease) {
        MachineState ms = machineState(r.name(), r.state());
        if (ms.memoryBytes() != r.memory().size()) {
            throw new SnapshotMismatchException("snapshot '" + r.name() + "' has inconsistent VM state: memory "
                    + ms.memoryBytes() + " bytes, but its layers map " + r.memory().size());
        }
        String backend = ms.backend();
        long memoryBytes = ms.memoryBytes();
        int vcpus = ms.vcpuCount();
        List<byte[]> vcpuStates = ms.vcpus();
        byte[] hv = ms.hypervisor();
        Map<String, byte[]> devices = ms.devices();
        GuestMemory memory = r.memory();
        return new VmImage() {
            private boolean taken;

            @Override
            public String backend() {
                return backend;
            }

            @Override
            public long memoryBytes() {
                return memoryBytes;
            }

            @Override
            public synchronized GuestMemory takeMemory() {
                if (taken) {
                    throw new SnapshotException("the image of snapshot '" + r.name() + "' was already used to build a"
                            + " VM: an image serves one VM; take another with VmSnapshots.image, or use VmSnapshots.fork");
                }
                taken = true;
                return memory;
            }

            @Override
            public List<byte[]> vcpuStates() {
                return vcpuStates;
            }

            @Override
            public byte[] vmState() {
                return hv;
            }

            @Override
            public Map<String, byte[]> deviceStates() {
                return devices;
            }

            @Override
            public List<Disk> disks() {
                return disks;
            }

            @Override
            public void release() {
                if (lease != null) {
                    lease.close();
                }
            }

            @Override
            public String toString() {
                return "VmImage[" + r.name() + ", " + backend + ", " + vcpus + " vCPU, " + (memoryBytes >> 20) + " MiB]";
            }
        };
    }

    private static void closeQuietly(VmImage image) {
        try {
            image.takeMemory().close();
        } catch (RuntimeException ignored) {
            // already handed to a VM, which closes it
        }
    }

    /** The store entries of a capture: the VM state as one record. */
    private static Map<String, byte[]> stateEntries(MachineInternals m, Capture c) {
        byte[] encoded = new MachineState(m.backend(), m.memory().size(), c.vcpus(), c.vm(), c.devices()).encode();
        return Map.of(STATE_ENTRY, encoded);
    }

    /**
     * Reads the VM state of snapshot {@code name} from its store entries.
     *
     * @throws SnapshotMismatchException if there is none, it is of another format version (naming
     *     the version found and the one read), or it is malformed (the cause names the field)
     */
    static MachineState machineState(String name, Map<String, byte[]> state) {
        byte[] encoded = state.get(STATE_ENTRY);
        if (encoded == null) {
            byte[] legacy = state.get(LEGACY_META);
            if (legacy != null) {
                throw new SnapshotMismatchException("snapshot '" + name + "' has VM state format "
                        + legacyFormat(legacy) + "; this build reads format " + MachineState.FORMAT_VERSION
                        + " only: restore it with the Ignition version that wrote it, or take the snapshot again");
            }
            throw new SnapshotMismatchException("snapshot '" + name + "' holds no VM state (it was not written by VmSnapshots)");
        }
        try {
            return MachineState.decode(encoded, "snapshot '" + name + "'", VirtualMachine.Builder.MAX_VCPUS);
        } catch (UnsupportedStateVersionException e) {
            throw new SnapshotMismatchException("snapshot '" + name + "' has VM state format " + e.found()
                    + "; this build reads format " + MachineState.FORMAT_VERSION, e);
        } catch (CorruptStateException e) {
            throw new SnapshotMismatchException("snapshot '" + name + "' has unreadable VM state: " + e.getMessage(), e);
        }
    }

    /** The {@code format} of a format-1 header, for the refusal's message; "unknown" when unreadable. */
    private static String legacyFormat(byte[] meta) {
        Properties p = new Properties();
        try {
            p.load(new StringReader(new String(meta, StandardCharsets.UTF_8)));
        } catch (IOException | IllegalArgumentException e) {
            return "unknown";
        }
        String f = p.getProperty("format", "");
        return f.matches("[0-9]{1,9}") ? f : "unknown";
    }

    private static MachineInternals internals(VirtualMachine vm) {
        if (vm instanceof MachineInternals m) {
            return m;
        }
        throw new IllegalArgumentException("not an Ignition VM: " + vm.getClass().getName());
    }
}
