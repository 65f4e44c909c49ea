package dev.ignition.snapshot.internal;

import dev.ignition.snapshot.LayerId;
import dev.ignition.snapshot.LayerKind;
import dev.ignition.snapshot.LayoutRegion;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A layer's manifest, as written to and read from {@code manifest.json}: format version 1, or 2
 * when the layer holds disk images (version 2 = version 1 plus the {@code disks} array).
 *
 * @param kind full or diff
 * @param parent the parent's id (diff) or null (full)
 * @param pageSize bytes per page
 * @param layout memory layout
 * @param storedPages full: non-zero pages written; diff: packed pages
 * @param files every data file of the layer with its size and CRC32C, by file name
 * @param state the state blobs inside {@code state.bin}, sorted by name
 * @param disks the disk images, in slot order; disk {@code i}'s bytes are the file {@link #diskFile(int)}
 */
public record Manifest(LayerKind kind, @Nullable LayerId parent, int pageSize, List<LayoutRegion> layout,
        long storedPages, Map<String, FileEntry> files, List<StateEntry> state, List<DiskEntry> disks) {
    /** The version of layers without disks. */
    public static final int FORMAT_VERSION = 1;
    /** The version of layers with disks. */
    public static final int FORMAT_VERSION_DISKS = 2;
    /** The most disks a layer may hold. */
    public static final int MAX_DISKS = 64;
    public static final String FORMAT = "ignition-snapshot-layer";
    public static final String MANIFEST = "manifest.json";
    public static final String MEMORY_IMG = "memory.img";
    public static final String PAGES_IDX = "pages.idx";
    public static final String PAGES_BIN = "pages.bin";
    public static final String STATE_BIN = "state.bin";

    public Manifest {
        layout = List.copyOf(layout);
        files = Map.copyOf(files);
        state = List.copyOf(state);
        disks = List.copyOf(disks);
    }

    /** The format version this manifest is written in: 1 without disks, 2 with. */
    public int formatVersion() {
        return disks.isEmpty() ? FORMAT_VERSION : FORMAT_VERSION_DISKS;
    }

    /** The file holding disk {@code index}: {@code disk<index>.img}, never a name from the manifest. */
    public static String diskFile(int index) {
        return "disk" + index + ".img";
    }

    /** Every data file of this layer: the kind's files, then one per disk. */
    public List<String> dataFiles() {
        List<String> out = new ArrayList<>(fileNames(kind));
        for (int i = 0; i < disks.size(); i++) {
            out.add(diskFile(i));
        }
        return out;
    }

    /** The data files a layer of {@code kind} has, in the order they are checked. */
    public static List<String> fileNames(LayerKind kind) {
        return kind == LayerKind.FULL ? List.of(MEMORY_IMG, STATE_BIN) : List.of(PAGES_IDX, PAGES_BIN, STATE_BIN);
    }

    public FileEntry file(String name) {
        FileEntry f = files.get(name);
        if (f == null) {
            throw new IllegalStateException("validated manifest lacks " + name);
        }
        return f;
    }

    public long bytesOnDisk() {
        long total = 0;
        for (FileEntry f : files.values()) {
            total += f.size();
        }
        return total;
    }

    /**
     * @param size the file's length in bytes
     * @param crc32c CRC32C of the file's full logical content (holes read as zeros)
     */
    public record FileEntry(long size, long crc32c) {}

    /**
     * @param name the blob's name
     * @param offset where it starts in {@code state.bin}
     * @param length its length
     * @param crc32c its CRC32C
     */
    public record StateEntry(String name, long offset, long length, long crc32c) {}

    /**
     * @param id the serial the guest reads (at most 20 bytes of UTF-8)
     * @param readOnly whether the disk was attached read-only
     */
    public record DiskEntry(String id, boolean readOnly) {}
}
