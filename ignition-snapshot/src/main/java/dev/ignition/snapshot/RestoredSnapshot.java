package dev.ignition.snapshot;

import dev.ignition.device.Disk;
import dev.ignition.memory.GuestMemory;
import java.util.List;
import java.util.Map;

/**
 * A restored snapshot. The caller owns {@link #memory()}: it is a private copy-on-write mapping
 * of the root image with the diff pages written over it, usable directly as guest RAM, and is
 * unmapped by {@link #close()} (or {@code memory().close()}).
 *
 * @param name the snapshot's name
 * @param memory the restored guest memory
 * @param state the leaf layer's state blobs (each checksum-verified), by name
 * @param chain the chain's layers, leaf first, root last
 * @param timings per-stage timings
 */
public record RestoredSnapshot(String name, GuestMemory memory, Map<String, byte[]> state, List<LayerInfo> chain,
        RestoreTimings timings) implements AutoCloseable {
    public RestoredSnapshot {
        state = Map.copyOf(state);
        chain = List.copyOf(chain);
    }

    /** The leaf layer. */
    public LayerInfo layer() {
        return chain.getFirst();
    }

    /**
     * The snapshot's disk images (the leaf layer's), in slot order. They are files of the store
     * and must never be written: attach clones of the writable ones, as {@link VmSnapshots#restore}
     * does.
     */
    public List<Disk> disks() {
        return layer().disks();
    }

    @Override
    public void close() {
        memory.close();
    }
}
