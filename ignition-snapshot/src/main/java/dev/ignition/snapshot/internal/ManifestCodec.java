package dev.ignition.snapshot.internal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ignition.device.Disk;
import dev.ignition.snapshot.CorruptLayerException;
import dev.ignition.snapshot.LayerId;
import dev.ignition.snapshot.LayerKind;
import dev.ignition.snapshot.LayoutRegion;
import dev.ignition.snapshot.UnsupportedFormatVersionException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** Writes manifests in a fixed field order and reads them strictly, rejecting anything unexpected. */
public final class ManifestCodec {
    /** Manifests larger than this are rejected unread. */
    public static final int MAX_MANIFEST_BYTES = 1 << 20;
    public static final int MAX_PAGE_SIZE = 1 << 21;
    public static final int MIN_PAGE_SIZE = 4096;
    public static final int MAX_STATE_NAME = 256;

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .build();
    /** Largest data file accepted, so that sums of sizes cannot overflow (64 PiB). */
    public static final long MAX_FILE_BYTES = 1L << 56;
    /**
     * Largest {@code state.bin} (256 MiB): it is read whole into the heap, so a hostile size must
     * fail as a corrupt layer, not as an OutOfMemoryError. Real state (registers, devices) is KiBs.
     */
    public static final int MAX_STATE_BYTES = 1 << 28;
    /**
     * Largest {@code pages.idx} (128 MiB, 16 Mi runs): it is read whole, for the same reason. A diff
     * more scattered than that is refused at write time (write a full snapshot instead).
     */
    public static final int MAX_INDEX_BYTES = 1 << 27;
    private static final Set<String> TOP = Set.of("format", "formatVersion", "kind", "parent", "pageSize", "layout",
            "storedPages", "files", "state");
    private static final Set<String> TOP_DISKS = Set.of("format", "formatVersion", "kind", "parent", "pageSize",
            "layout", "storedPages", "files", "state", "disks");

    private ManifestCodec() {}

    public static byte[] encode(Manifest m) {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", Manifest.FORMAT);
        root.put("formatVersion", m.formatVersion());
        root.put("kind", m.kind().name().toLowerCase(Locale.ROOT));
        if (m.parent() == null) {
            root.putNull("parent");
        } else {
            root.put("parent", m.parent().hex());
        }
        root.put("pageSize", m.pageSize());
        ArrayNode layout = root.putArray("layout");
        for (LayoutRegion r : m.layout()) {
            layout.addObject().put("guestAddress", r.guestAddress()).put("size", r.size());
        }
        root.put("storedPages", m.storedPages());
        ObjectNode files = root.putObject("files");
        for (String name : m.dataFiles()) {
            Manifest.FileEntry f = m.file(name);
            files.putObject(name).put("size", f.size()).put("crc32c", Checksums.crcHex(f.crc32c()));
        }
        ArrayNode state = root.putArray("state");
        for (Manifest.StateEntry s : m.state()) {
            state.addObject().put("name", s.name()).put("offset", s.offset()).put("length", s.length())
                    .put("crc32c", Checksums.crcHex(s.crc32c()));
        }
        if (!m.disks().isEmpty()) {
            ArrayNode disks = root.putArray("disks");
            for (Manifest.DiskEntry d : m.disks()) {
                disks.addObject().put("id", d.id()).put("readOnly", d.readOnly());
            }
        }
        try {
            return JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a manifest", e);
        }
    }

    /**
     * Parses and validates a manifest in isolation (links to the parent are checked by the resolver).
     *
     * @param layer the layer's directory name, for messages
     * @throws CorruptLayerException naming the layer and the first problem
     */
    public static Manifest decode(byte[] bytes, String layer) {
        JsonNode root;
        try {
            root = JSON.readTree(bytes);
        } catch (IOException e) {
            throw new CorruptLayerException(layer, "manifest.json is not valid JSON: " + firstLine(e.getMessage()));
        }
        if (root == null || !root.isObject()) {
            throw new CorruptLayerException(layer, "manifest.json is not a JSON object");
        }
        Reader r = new Reader(layer);
        if (!Manifest.FORMAT.equals(root.path("format").asText(null))) {
            throw new CorruptLayerException(layer, "manifest.json is not an Ignition layer manifest (field 'format' is not '"
                    + Manifest.FORMAT + "')");
        }
        long version = r.longField(root, "formatVersion", "manifest");
        if (version != Manifest.FORMAT_VERSION && version != Manifest.FORMAT_VERSION_DISKS) {
            throw new UnsupportedFormatVersionException(layer, version, Manifest.FORMAT_VERSION_DISKS);
        }
        r.exactFields(root, version == Manifest.FORMAT_VERSION ? TOP : TOP_DISKS, "manifest");
        List<Manifest.DiskEntry> disks = version == Manifest.FORMAT_VERSION ? List.of() : disks(root.get("disks"), r);
        String kindText = r.textField(root, "kind", "manifest");
        LayerKind kind = switch (kindText) {
            case "full" -> LayerKind.FULL;
            case "diff" -> LayerKind.DIFF;
            default -> throw r.bad("field 'kind' is '" + kindText + "', expected 'full' or 'diff'");
        };
        JsonNode parentNode = root.get("parent");
        LayerId parent = null;
        if (!parentNode.isNull()) {
            if (!parentNode.isTextual() || !LayerId.isValid(parentNode.asText())) {
                throw r.bad("field 'parent' is not a layer id (64 lower-case hex digits) or null");
            }
            parent = new LayerId(parentNode.asText());
        }
        if (kind == LayerKind.FULL && parent != null) {
            throw r.bad("a full layer has a parent (" + parent + ")");
        }
        if (kind == LayerKind.DIFF && parent == null) {
            throw r.bad("a diff layer has no parent");
        }
        long pageSize = r.longField(root, "pageSize", "manifest");
        if (pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || Long.bitCount(pageSize) != 1) {
            throw r.bad("page size " + pageSize + " is not a power of two between " + MIN_PAGE_SIZE + " and "
                    + MAX_PAGE_SIZE);
        }
        JsonNode layoutNode = root.get("layout");
        if (!layoutNode.isArray()) {
            throw r.bad("field 'layout' is not an array");
        }
        List<LayoutRegion> layout = new ArrayList<>();
        for (JsonNode n : layoutNode) {
            String what = "layout region " + layout.size();
            r.exactFields(n, Set.of("guestAddress", "size"), what);
            layout.add(new LayoutRegion(r.longField(n, "guestAddress", what), r.longField(n, "size", what)));
        }
        String layoutProblem = Layout.problem(layout, (int) pageSize);
        if (layoutProblem != null) {
            throw r.bad(layoutProblem);
        }
        Layout lay = Layout.of(layout, (int) pageSize);
        long stored = r.longField(root, "storedPages", "manifest");
        if (stored < 0 || stored > lay.totalPages()) {
            throw r.bad("storedPages " + stored + " is outside 0.." + lay.totalPages());
        }
        JsonNode filesNode = root.get("files");
        List<String> expected = new ArrayList<>(Manifest.fileNames(kind));
        for (int i = 0; i < disks.size(); i++) {
            expected.add(Manifest.diskFile(i));
        }
        r.exactFields(filesNode, new HashSet<>(expected), "field 'files'");
        Map<String, Manifest.FileEntry> files = new LinkedHashMap<>();
        for (String name : expected) {
            JsonNode f = filesNode.get(name);
            String what = "file entry '" + name + "'";
            r.exactFields(f, Set.of("size", "crc32c"), what);
            long size = r.longField(f, "size", what);
            if (size < 0 || size > MAX_FILE_BYTES) {
                throw r.bad(what + " has size " + size + ", outside 0.." + MAX_FILE_BYTES);
            }
            files.put(name, new Manifest.FileEntry(size, r.crcField(f, "crc32c", what)));
        }
        if (kind == LayerKind.FULL && files.get(Manifest.MEMORY_IMG).size() != lay.totalSize()) {
            throw r.bad("memory.img is declared " + files.get(Manifest.MEMORY_IMG).size()
                    + " bytes but the layout holds " + lay.totalSize());
        }
        if (kind == LayerKind.DIFF) {
            if (files.get(Manifest.PAGES_BIN).size() != stored * pageSize) {
                throw r.bad("pages.bin is declared " + files.get(Manifest.PAGES_BIN).size() + " bytes but "
                        + stored + " pages of " + pageSize + " bytes need " + stored * pageSize);
            }
            long idx = files.get(Manifest.PAGES_IDX).size();
            if (idx % PageRuns.ENTRY_BYTES != 0) {
                throw r.bad("pages.idx is declared " + idx + " bytes, not a multiple of " + PageRuns.ENTRY_BYTES);
            }
            // Every run holds at least one page, so there are at most storedPages runs.
            if (idx / PageRuns.ENTRY_BYTES > stored || idx > MAX_INDEX_BYTES) {
                throw r.bad("pages.idx is declared " + idx + " bytes: more runs than the " + stored
                        + " stored pages, or over the " + MAX_INDEX_BYTES + "-byte limit");
            }
        }
        JsonNode stateNode = root.get("state");
        if (!stateNode.isArray()) {
            throw r.bad("field 'state' is not an array");
        }
        long stateSize = files.get(Manifest.STATE_BIN).size();
        if (stateSize > MAX_STATE_BYTES) {
            throw r.bad("state.bin is declared " + stateSize + " bytes, over the " + MAX_STATE_BYTES + "-byte limit");
        }
        List<Manifest.StateEntry> state = new ArrayList<>();
        String prev = null;
        for (JsonNode n : stateNode) {
            String what = "state entry " + state.size();
            r.exactFields(n, Set.of("name", "offset", "length", "crc32c"), what);
            String name = r.textField(n, "name", what);
            if (name.isEmpty() || name.length() > MAX_STATE_NAME) {
                throw r.bad(what + " has an empty name or one longer than " + MAX_STATE_NAME);
            }
            if (prev != null && prev.compareTo(name) >= 0) {
                throw r.bad("state blob names are not sorted and unique at '" + name + "'");
            }
            long off = r.longField(n, "offset", what);
            long len = r.longField(n, "length", what);
            if (off < 0 || len < 0 || off > stateSize - len || len > Integer.MAX_VALUE - 8) {
                throw r.bad("state blob '" + name + "' [" + off + ", +" + len + ") lies outside state.bin ("
                        + stateSize + " bytes)");
            }
            state.add(new Manifest.StateEntry(name, off, len, r.crcField(n, "crc32c", what)));
            prev = name;
        }
        return new Manifest(kind, parent, (int) pageSize, layout, stored, files, state, disks);
    }

    /** The {@code disks} array of a version-2 manifest: 1..64 entries of {id, readOnly}. */
    private static List<Manifest.DiskEntry> disks(JsonNode node, Reader r) {
        if (node == null || !node.isArray()) {
            throw r.bad("field 'disks' is not an array");
        }
        if (node.isEmpty() || node.size() > Manifest.MAX_DISKS) {
            throw r.bad("field 'disks' has " + node.size() + " entries; a version-2 layer holds 1.." + Manifest.MAX_DISKS);
        }
        List<Manifest.DiskEntry> out = new ArrayList<>();
        for (JsonNode n : node) {
            String what = "disk entry " + out.size();
            r.exactFields(n, Set.of("id", "readOnly"), what);
            String id = r.textField(n, "id", what);
            if (id.getBytes(StandardCharsets.UTF_8).length > Disk.MAX_ID_BYTES) {
                throw r.bad(what + " has an id longer than " + Disk.MAX_ID_BYTES + " bytes");
            }
            JsonNode ro = n.get("readOnly");
            if (!ro.isBoolean()) {
                throw r.bad(what + " field 'readOnly' is not a boolean");
            }
            out.add(new Manifest.DiskEntry(id, ro.booleanValue()));
        }
        return out;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "unreadable";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /** Field accessors that fail with messages naming the layer and the field. */
    private record Reader(String layer) {
        CorruptLayerException bad(String reason) {
            return new CorruptLayerException(layer, "manifest: " + reason);
        }

        void exactFields(JsonNode node, Set<String> allowed, String what) {
            if (node == null || !node.isObject()) {
                throw bad(what + " is not a JSON object");
            }
            for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
                String f = it.next();
                if (!allowed.contains(f)) {
                    throw bad(what + " has unknown field '" + f + "'");
                }
            }
            for (String f : allowed) {
                if (!node.has(f)) {
                    throw bad(what + " lacks field '" + f + "'");
                }
            }
        }

        long longField(JsonNode node, String field, String what) {
            JsonNode v = node.get(field);
            if (v == null || !v.isIntegralNumber() || !v.canConvertToLong()) {
                throw bad(what + " field '" + field + "' is missing or not a 64-bit integer");
            }
            return v.longValue();
        }

        String textField(JsonNode node, String field, String what) {
            JsonNode v = node.get(field);
            if (v == null || !v.isTextual()) {
                throw bad(what + " field '" + field + "' is missing or not a string");
            }
            return v.asText();
        }

        long crcField(JsonNode node, String field, String what) {
            String t = textField(node, field, what);
            if (t.length() != 8 || !t.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                throw bad(what + " field '" + field + "' is not 8 lower-case hex digits");
            }
            return Long.parseLong(t, 16);
        }
    }
}
