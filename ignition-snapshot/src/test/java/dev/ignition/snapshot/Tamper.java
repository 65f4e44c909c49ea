package dev.ignition.snapshot;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.function.Consumer;
import java.util.zip.CRC32C;

/** Edits a store's files the way an attacker or a broken disk would. */
final class Tamper {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Tamper() {}

    static Path layerDir(Path store, LayerId id) {
        return store.resolve("layers").resolve(id.hex());
    }

    static void flipByte(Path file, long offset) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(offset);
            int b = f.read();
            f.seek(offset);
            f.write(b ^ 0x40);
        }
    }

    static void truncate(Path file, long newSize) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(newSize);
        }
    }

    static String crcHex(byte[] data) {
        CRC32C c = new CRC32C();
        c.update(data);
        return String.format("%08x", c.getValue());
    }

    /**
     * Rewrites a layer's manifest with {@code edit}, then renames the layer to its new content id
     * and repoints the names that referred to it, so that only the edit itself is wrong.
     */
    static LayerId rewriteManifest(Path store, LayerId id, Consumer<ObjectNode> edit) throws Exception {
        Path dir = layerDir(store, id);
        ObjectNode m = (ObjectNode) JSON.readTree(dir.resolve("manifest.json").toFile());
        edit.accept(m);
        byte[] bytes = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(m);
        Files.write(dir.resolve("manifest.json"), bytes);
        LayerId newId = new LayerId(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)));
        Files.move(dir, layerDir(store, newId));
        repoint(store, id, newId);
        return newId;
    }

    /** Replaces a data file and fixes its size and checksum in the manifest (re-hashing the layer). */
    static LayerId replaceFile(Path store, LayerId id, String file, byte[] content, Consumer<ObjectNode> alsoEdit)
            throws Exception {
        Files.write(layerDir(store, id).resolve(file), content);
        return rewriteManifest(store, id, m -> {
            ObjectNode f = (ObjectNode) m.get("files").get(file);
            f.put("size", content.length).put("crc32c", crcHex(content));
            alsoEdit.accept(m);
        });
    }

    static void repoint(Path store, LayerId from, LayerId to) throws IOException {
        try (var names = Files.list(store.resolve("names"))) {
            for (Path n : names.toList()) {
                if (Files.readString(n).strip().equals(from.hex())) {
                    Files.writeString(n, to.hex() + "\n", StandardCharsets.US_ASCII);
                }
            }
        }
    }

    static void pointName(Path store, String name, String id) throws IOException {
        Files.writeString(store.resolve("names").resolve(name), id + "\n", StandardCharsets.US_ASCII);
    }
}
