package dev.ignition.internal.vm;

import java.nio.file.Path;

/**
 * Which snapshot a VM descends from: the one it was last snapshotted as or restored from, in
 * the store at {@code store}. A VM's next automatic snapshot into that store is a diff against it.
 *
 * @param store the snapshot store's directory
 * @param snapshot the snapshot's name in it
 */
public record SnapshotLineage(Path store, String snapshot) {}
