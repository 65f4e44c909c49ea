package dev.ignition.internal.arm64;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a flattened device tree blob (DTB, format version 17) as the devicetree specification
 * v0.4 section 5 lays it out: header, memory reservation block, structure block, strings block,
 * all big-endian.
 *
 * <pre>{@code
 * Fdt fdt = new Fdt();
 * fdt.beginNode("");
 * fdt.propertyU32("#address-cells", 2);
 * fdt.beginNode("chosen");
 * fdt.propertyString("bootargs", "console=ttyAMA0");
 * fdt.endNode();
 * fdt.endNode();
 * byte[] dtb = fdt.finish();
 * }</pre>
 */
public final class Fdt {
    static final int MAGIC = 0xd00dfeed;
    static final int BEGIN_NODE = 1;
    static final int END_NODE = 2;
    static final int PROP = 3;
    static final int END = 9;
    private static final int HEADER_SIZE = 40;
    private static final int VERSION = 17;
    private static final int LAST_COMP_VERSION = 16;

    private final ByteArrayOutputStream struct = new ByteArrayOutputStream();
    private final ByteArrayOutputStream strings = new ByteArrayOutputStream();
    private final Map<String, Integer> stringOffsets = new HashMap<>();
    private final List<long[]> reservations = new ArrayList<>();
    private int depth;
    private boolean finished;

    /** Opens a node; the root node's name is empty. */
    public Fdt beginNode(String name) {
        checkOpen();
        if (depth == 0 && struct.size() > 0) {
            throw new IllegalStateException("a device tree has exactly one root node");
        }
        if (name.indexOf('\0') >= 0 || name.indexOf('/') >= 0) {
            throw new IllegalArgumentException("bad node name: " + name);
        }
        word(BEGIN_NODE);
        byte[] n = name.getBytes(StandardCharsets.US_ASCII);
        struct.writeBytes(n);
        struct.write(0);
        pad();
        depth++;
        return this;
    }

    public Fdt endNode() {
        checkOpen();
        if (depth == 0) {
            throw new IllegalStateException("endNode without beginNode");
        }
        word(END_NODE);
        depth--;
        return this;
    }

    /** A property with raw bytes as its value. */
    public Fdt property(String name, byte[] value) {
        checkOpen();
        if (depth == 0) {
            throw new IllegalStateException("property outside a node: " + name);
        }
        word(PROP);
        word(value.length);
        word(stringOffset(name));
        struct.writeBytes(value);
        pad();
        return this;
    }

    /** An empty (boolean) property such as {@code interrupt-controller}. */
    public Fdt property(String name) {
        return property(name, new byte[0]);
    }

    /** A property of big-endian 32-bit cells. */
    public Fdt propertyU32(String name, int... cells) {
        ByteBuffer b = ByteBuffer.allocate(4 * cells.length).order(ByteOrder.BIG_ENDIAN);
        for (int c : cells) {
            b.putInt(c);
        }
        return property(name, b.array());
    }

    /** A property of 64-bit values, each written as two big-endian cells (high then low). */
    public Fdt propertyU64(String name, long... values) {
        ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.BIG_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return property(name, b.array());
    }

    /** A string, or a string list: each string NUL-terminated, concatenated. */
    public Fdt propertyString(String name, String... values) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (String v : values) {
            if (v.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("NUL inside string property " + name);
            }
            b.writeBytes(v.getBytes(StandardCharsets.UTF_8));
            b.write(0);
        }
        return property(name, b.toByteArray());
    }

    /** Adds an entry to the memory reservation block. */
    public Fdt reserve(long address, long size) {
        checkOpen();
        reservations.add(new long[] {address, size});
        return this;
    }

    /** Closes the tree and returns the blob; the writer cannot be used afterwards. */
    public byte[] finish() {
        checkOpen();
        if (depth != 0 || struct.size() == 0) {
            throw new IllegalStateException("unbalanced device tree: " + depth + " node(s) still open");
        }
        word(END);
        finished = true;
        byte[] st = struct.toByteArray();
        byte[] str = strings.toByteArray();
        int rsvOff = HEADER_SIZE; // 40 is 8-aligned as the spec requires of the reservation block
        int rsvSize = 16 * (reservations.size() + 1);
        int structOff = rsvOff + rsvSize;
        int stringsOff = structOff + st.length;
        int total = stringsOff + str.length;
        ByteBuffer b = ByteBuffer.allocate(total).order(ByteOrder.BIG_ENDIAN);
        b.putInt(MAGIC).putInt(total).putInt(structOff).putInt(stringsOff).putInt(rsvOff)
                .putInt(VERSION).putInt(LAST_COMP_VERSION).putInt(0).putInt(str.length).putInt(st.length);
        for (long[] r : reservations) {
            b.putLong(r[0]).putLong(r[1]);
        }
        b.putLong(0).putLong(0);
        b.put(st).put(str);
        return b.array();
    }

    private int stringOffset(String name) {
        return stringOffsets.computeIfAbsent(name, n -> {
            int off = strings.size();
            strings.writeBytes(n.getBytes(StandardCharsets.US_ASCII));
            strings.write(0);
            return off;
        });
    }

    private void word(int v) {
        struct.write(v >>> 24);
        struct.write(v >>> 16);
        struct.write(v >>> 8);
        struct.write(v);
    }

    private void pad() {
        while (struct.size() % 4 != 0) {
            struct.write(0);
        }
    }

    private void checkOpen() {
        if (finished) {
            throw new IllegalStateException("device tree already finished");
        }
    }
}
