package dev.ignition.snapshot.internal;

import dev.ignition.snapshot.CorruptLayerException;
import dev.ignition.snapshot.LayerId;
import dev.ignition.snapshot.LayerKind;
import dev.ignition.snapshot.SnapshotException;
import dev.ignition.snapshot.Verification;
import java.io.IOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads layers and walks chains, validating everything a restore relies on before anything is
 * mapped. Every failure is a {@link CorruptLayerException} naming the layer and the problem.
 */
public final class ChainResolver {
    /** Chains deeper than this are rejected (squash them). */
    public static final int MAX_DEPTH = 4096;

    private final Path layers;

    public ChainResolver(Path layers) {
        this.layers = layers;
    }

    private record Raw(LayerId id, Path dir, byte[] bytes, Manifest manifest) {}

    /** Resolves and validates the chain ending at {@code leaf}; returns it leaf first, root last. */
    public List<ResolvedLayer> resolve(LayerId leaf, Verification verification) {
        List<Raw> walk = new ArrayList<>();
        Set<LayerId> seen = new LinkedHashSet<>();
        LayerId cur = leaf;
        Raw child = null;
        while (true) {
            Path dir = layers.resolve(cur.hex());
            if (!isLayerDir(dir, cur)) {
                if (child == null) {
                    throw new CorruptLayerException(cur.hex(), "the layer's directory is missing from the store");
                }
                checkId(child.id, child.bytes);
                throw new CorruptLayerException(child.id.hex(), "its parent layer " + cur + " is missing from the store");
            }
            byte[] bytes = readManifestBytes(dir, cur.hex());
            Manifest m = ManifestCodec.decode(bytes, cur.hex());
            Raw raw = new Raw(cur, dir, bytes, m);
            walk.add(raw);
            seen.add(cur);
            LayerId parent = m.parent();
            if (parent == null) {
                break;
            }
            if (seen.contains(parent)) {
                StringBuilder loop = new StringBuilder();
                for (LayerId id : seen) {
                    loop.append(id.shortForm()).append(" -> ");
                }
                loop.append(parent.shortForm());
                throw new CorruptLayerException(cur.hex(), "its parent link forms a cycle: " + loop);
            }
            if (walk.size() >= MAX_DEPTH) {
                throw new CorruptLayerException(leaf.hex(), "the chain is deeper than " + MAX_DEPTH + " layers");
            }
            child = raw;
            cur = parent;
        }
        List<ResolvedLayer> out = new ArrayList<>(walk.size());
        for (Raw raw : walk) {
            out.add(validate(raw, verification == Verification.FULL));
        }
        for (int i = 0; i + 1 < out.size(); i++) {
            checkLink(out.get(i), out.get(i + 1));
        }
        if (!out.getLast().isFull()) {
            throw new CorruptLayerException(out.getLast().id().hex(), "the chain does not end at a full layer");
        }
        return out;
    }

    /** Reads and validates one layer on its own (no parent checks). */
    public ResolvedLayer load(LayerId id, boolean checkData) {
        Path dir = layers.resolve(id.hex());
        if (!isLayerDir(dir, id)) {
            throw new CorruptLayerException(id.hex(), "the layer's directory is missing from the store");
        }
        byte[] bytes = readManifestBytes(dir, id.hex());
        return validate(new Raw(id, dir, bytes, ManifestCodec.decode(bytes, id.hex())), checkData);
    }

    /** The parent recorded in a layer's manifest, decoding the manifest only (no file checks). */
    public Manifest manifestOnly(LayerId id) {
        Path dir = layers.resolve(id.hex());
        if (!isLayerDir(dir, id)) {
            throw new CorruptLayerException(id.hex(), "the layer's directory is missing from the store");
        }
        return ManifestCodec.decode(readManifestBytes(dir, id.hex()), id.hex());
    }

    /**
     * Whether the layer's directory exists; an entry of that name that is a link or a file is
     * refused rather than taken for a missing layer, so the message says what is there.
     */
    private static boolean isLayerDir(Path dir, LayerId id) {
        try {
            SafeFiles.requireDirectory(dir, "its directory layers/" + id.hex());
            return true;
        } catch (NoSuchFileException e) {
            return false;
        } catch (SafeFiles.Refused e) {
            throw new CorruptLayerException(id.hex(), e.getMessage());
        } catch (IOException e) {
            throw new CorruptLayerException(id.hex(), "its directory cannot be read: " + e);
        }
    }

    static void checkLink(ResolvedLayer child, ResolvedLayer parent) {
        String c = child.id().hex();
        if (child.manifest().pageSize() != parent.manifest().pageSize()) {
            throw new CorruptLayerException(c, "its page size " + child.manifest().pageSize()
                    + " differs from its parent " + parent.id() + "'s page size " + parent.manifest().pageSize());
        }
        if (!child.layout().sameAs(parent.layout())) {
            throw new CorruptLayerException(c, "its memory layout " + child.manifest().layout()
                    + " differs from its parent " + parent.id() + "'s layout " + parent.manifest().layout());
        }
    }

    private static byte[] readManifestBytes(Path dir, String layer) {
        Path f = dir.resolve(Manifest.MANIFEST);
        try {
            return SafeFiles.readCapped(f, Manifest.MANIFEST, ManifestCodec.MAX_MANIFEST_BYTES);
        } catch (NoSuchFileException e) {
            throw new CorruptLayerException(layer, "manifest.json is missing");
        } catch (SafeFiles.Refused e) {
            throw new CorruptLayerException(layer, e.getMessage());
        } catch (IOException e) {
            throw unreadable(layer, "manifest.json", e);
        }
    }

    private static void checkId(LayerId id, byte[] manifestBytes) {
        String actual = Checksums.sha256Hex(manifestBytes);
        if (!actual.equals(id.hex())) {
            throw new CorruptLayerException(id.hex(), "manifest.json does not hash to the layer's id (it hashes to "
                    + actual + "): the manifest was modified or corrupted");
        }
    }

    private static ResolvedLayer validate(Raw raw, boolean checkData) {
        String layer = raw.id.hex();
        checkId(raw.id, raw.bytes);
        Manifest m = raw.manifest;
        Layout layout = Layout.of(m.layout(), m.pageSize());
        Map<String, Long> sizes = new HashMap<>();
        for (String name : m.dataFiles()) {
            Path f = raw.dir.resolve(name);
            long declared = m.file(name).size();
            long actual;
            try {
                // Not followed: a link could point the restore (or a read-only disk) at any host file.
                actual = SafeFiles.regularFileSize(f, name);
            } catch (NoSuchFileException e) {
                throw new CorruptLayerException(layer, name + " is missing");
            } catch (SafeFiles.Refused e) {
                throw new CorruptLayerException(layer, e.getMessage());
            } catch (IOException e) {
                throw unreadable(layer, name, e);
            }
            if (actual != declared) {
                throw new CorruptLayerException(layer, name + " is " + actual + " bytes but the manifest says "
                        + declared + (actual < declared ? " (truncated)" : " (overwritten or appended to)"));
            }
            sizes.put(name, actual);
        }
        PageRuns runs = null;
        if (m.kind() == LayerKind.DIFF) {
            Manifest.FileEntry idx = m.file(Manifest.PAGES_IDX);
            byte[] data = readChecked(raw.dir.resolve(Manifest.PAGES_IDX), idx, layer, Manifest.PAGES_IDX);
            try {
                runs = PageRuns.decode(data, layout.totalPages());
            } catch (IllegalArgumentException e) {
                throw new CorruptLayerException(layer, "pages.idx: " + e.getMessage());
            }
            if (runs.pageCount() != m.storedPages()) {
                throw new CorruptLayerException(layer, "pages.idx lists " + runs.pageCount()
                        + " pages but the manifest says " + m.storedPages());
            }
        }
        if (checkData) {
            for (String name : m.dataFiles()) {
                if (name.equals(Manifest.PAGES_IDX)) {
                    continue;
                }
                long crc;
                try {
                    crc = Checksums.crc32c(raw.dir.resolve(name));
                } catch (SafeFiles.Refused e) {
                    throw new CorruptLayerException(layer, e.getMessage());
                } catch (IOException e) {
                    throw unreadable(layer, name, e);
                }
                if (crc != m.file(name).crc32c()) {
                    throw new CorruptLayerException(layer, name + " fails its checksum (CRC32C "
                            + Checksums.crcHex(crc) + ", manifest says " + Checksums.crcHex(m.file(name).crc32c())
                            + "): the file is corrupt");
                }
            }
        }
        return new ResolvedLayer(raw.id, raw.dir, m, layout, runs);
    }

    /** Reads a small file and checks its size and CRC32C against the manifest. */
    static byte[] readChecked(Path f, Manifest.FileEntry entry, String layer, String name) {
        byte[] data;
        try {
            data = SafeFiles.readExactly(f, name, entry.size());
        } catch (DurableFiles.SizeMismatch e) {
            throw new CorruptLayerException(layer, name + " is " + e.actual() + " bytes but the manifest says "
                    + entry.size());
        } catch (NoSuchFileException e) {
            throw new CorruptLayerException(layer, name + " is missing");
        } catch (SafeFiles.Refused e) {
            throw new CorruptLayerException(layer, e.getMessage());
        } catch (IOException e) {
            throw unreadable(layer, name, e);
        }
        long crc = Checksums.crc32c(data, 0, data.length);
        if (crc != entry.crc32c()) {
            throw new CorruptLayerException(layer, name + " fails its checksum (CRC32C " + Checksums.crcHex(crc)
                    + ", manifest says " + Checksums.crcHex(entry.crc32c()) + "): the file is corrupt");
        }
        return data;
    }

    /** Reads a layer's state blobs, checking state.bin's checksum and each blob's. */
    public static Map<String, byte[]> readState(ResolvedLayer layer) {
        Manifest m = layer.manifest();
        String id = layer.id().hex();
        byte[] all = readChecked(layer.file(Manifest.STATE_BIN), m.file(Manifest.STATE_BIN), id, Manifest.STATE_BIN);
        Map<String, byte[]> out = new HashMap<>();
        for (Manifest.StateEntry e : m.state()) {
            byte[] b = Arrays.copyOfRange(all, (int) e.offset(), (int) (e.offset() + e.length()));
            if (Checksums.crc32c(b, 0, b.length) != e.crc32c()) {
                throw new CorruptLayerException(id, "state blob '" + e.name() + "' fails its checksum");
            }
            out.put(e.name(), b);
        }
        return out;
    }

    /**
     * A file of a layer could not be read: the layer is unusable, unless the reading thread was
     * interrupted, which says nothing about the layer (the interrupt stays pending).
     */
    private static SnapshotException unreadable(String layer, String file, IOException e) {
        if (e instanceof ClosedByInterruptException) {
            return new SnapshotException("interrupted while reading " + file + " of snapshot layer " + layer, e);
        }
        return new CorruptLayerException(layer, file + " cannot be read: " + e);
    }
}
