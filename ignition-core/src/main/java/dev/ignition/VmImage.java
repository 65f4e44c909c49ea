package dev.ignition;

import dev.ignition.device.Disk;
import dev.ignition.memory.GuestMemory;
import java.util.List;
import java.util.Map;

/**
 * A captured VM ready to be restored: its guest memory (already mapped, typically copy-on-write
 * from a snapshot) and the opaque state of its vCPUs, hypervisor and devices. Snapshot stores
 * produce these (see {@code dev.ignition.snapshot}); pass one to
 * {@link VirtualMachine.Builder#restoreFrom(VmImage)}.
 */
public interface VmImage {
    /** Name of the backend that captured it, e.g. {@code kvm}; restores need the same one. */
    String backend();

    /** Bytes of guest RAM the image holds. */
    long memoryBytes();

    /**
     * The guest memory. The VM built from this image takes ownership and closes it; each image
     * hands out its memory once.
     */
    GuestMemory takeMemory();

    /** One state blob per vCPU, in vCPU order. */
    List<byte[]> vcpuStates();

    /** The hypervisor's VM-wide state (interrupt controllers, timers, clock). */
    byte[] vmState();

    /** Device states by device name. */
    Map<String, byte[]> deviceStates();

    /**
     * Disk images that belong to the image, in slot order ({@code /dev/vda} first). The VM built
     * from it attaches them before its other virtio devices; the builder must then add no disks.
     * Empty (the default) when the image brings none: the builder's disks are used.
     */
    default List<Disk> disks() {
        return List.of();
    }

    /**
     * Called once by the VM built from this image when it closes (after its devices closed their
     * files), or when building it fails: releases what the image holds besides its memory, such
     * as working copies of {@link #disks()}. Does nothing by default.
     */
    default void release() {}
}
