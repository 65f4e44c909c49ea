package dev.ignition.snapshot.internal;

import dev.ignition.snapshot.LayerId;
import dev.ignition.snapshot.LayerKind;
import dev.ignition.snapshot.LayoutRegion;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A layer's manifest, as written to and read from {@code manifest.json} (format version 1).
 *
 * @param kind full or diff
 * @param parent the parent's id (diff) or null (full)
 * @param pageSize bytes per page
 * @param layout memory layout
 * @param storedPages full: non-zero pages written; diff: packed pages
 * @param files every data file of the layer with its size and CRC32C, by file name
 * @param state the state blobs inside {@code state.bin}, sorted by name
 */
public record Manifest(LayerKind kind, @Nullable LayerId parent, int pageSize, List<LayoutRegion> layout,
        long storedPages, Map<String, FileEntry> files, List<StateEntry> state) {
    public static final int FORMAT_VERSION = 1;
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
}
