package dev.ignition.internal.state;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Writes state records in the one snapshot-state encoding (specified in
 * {@code docs/snapshot-format.md}, section "VM state"):
 *
 * <pre>
 * record := tag u32 (4 ASCII bytes) | version u16 | length u32 | field*   (length = bytes of the fields)
 * field  := type u8 | payload                                             (all numbers little-endian)
 * </pre>
 *
 * Every field carries its type, so a reader that is out of step fails at the first field instead
 * of misreading the rest, and a nested record carries its own tag, version and length. One
 * growing array is the only allocation; there is no reflection.
 *
 * <pre>{@code
 * byte[] b = new StateWriter().begin("UART", 1).u8(ier).bool(irqHigh).bytes(rx).end().toByteArray();
 * }</pre>
 */
public final class StateWriter {
    static final int U8 = 1;
    static final int U16 = 2;
    static final int U32 = 3;
    static final int U64 = 4;
    static final int BOOL = 5;
    static final int BYTES = 6;
    static final int STRING = 7;
    static final int LONGS = 8;
    static final int INTS = 9;
    static final int RECORD = 10;
    static final int LIST = 11;
    /** Tag, version and length. */
    static final int HEADER = 4 + 2 + 4;
    static final int MAX_DEPTH = 16;

    private static final VarHandle I16 = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle I32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle I64 = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private byte[] buf;
    private int pos;
    private final int[] open = new int[MAX_DEPTH];
    private int depth;

    public StateWriter() {
        this(256);
    }

    /** @param sizeHint the expected encoded size, to avoid growing */
    public StateWriter(int sizeHint) {
        buf = new byte[Math.max(16, sizeHint)];
    }

    /** The tag as the u32 it is stored as: four ASCII characters, the first in the lowest byte. */
    static int tagValue(String tag) {
        if (tag.length() != 4) {
            throw new IllegalArgumentException("a record tag is 4 ASCII characters: '" + tag + "'");
        }
        int v = 0;
        for (int i = 3; i >= 0; i--) {
            char c = tag.charAt(i);
            if (c < 0x20 || c > 0x7e) {
                throw new IllegalArgumentException("a record tag is 4 ASCII characters: '" + tag + "'");
            }
            v = (v << 8) | c;
        }
        return v;
    }

    /** Starts a top-level record (or, inside one, use {@link #beginRecord}). */
    public StateWriter begin(String tag, int version) {
        if (depth != 0) {
            throw new IllegalStateException("a record is open: nest with beginRecord");
        }
        header(tag, version);
        return this;
    }

    /** Starts a record nested as the next field of the open one; close it with {@link #end()}. */
    public StateWriter beginRecord(String tag, int version) {
        requireOpen();
        type(RECORD);
        header(tag, version);
        return this;
    }

    private void header(String tag, int version) {
        if (version < 0 || version > 0xffff) {
            throw new IllegalArgumentException("record version out of range: " + version);
        }
        if (depth == MAX_DEPTH) {
            throw new IllegalStateException("records nest at most " + MAX_DEPTH + " deep");
        }
        int t = tagValue(tag);
        ensure(HEADER);
        I32.set(buf, pos, t);
        I16.set(buf, pos + 4, (short) version);
        pos += HEADER;
        open[depth++] = pos;
    }

    /** Closes the innermost open record, writing its length. */
    public StateWriter end() {
        requireOpen();
        int start = open[--depth];
        I32.set(buf, start - 4, pos - start);
        return this;
    }

    public StateWriter u8(int v) {
        if ((v & ~0xff) != 0) {
            throw new IllegalArgumentException("not a u8: " + v);
        }
        type(U8);
        ensure(1);
        buf[pos++] = (byte) v;
        return this;
    }

    public StateWriter u16(int v) {
        if ((v & ~0xffff) != 0) {
            throw new IllegalArgumentException("not a u16: " + v);
        }
        type(U16);
        ensure(2);
        I16.set(buf, pos, (short) v);
        pos += 2;
        return this;
    }

    /** Any int, stored as its 32 bits; the reader decides whether it is signed. */
    public StateWriter u32(int v) {
        type(U32);
        ensure(4);
        I32.set(buf, pos, v);
        pos += 4;
        return this;
    }

    /** Any long, stored as its 64 bits. */
    public StateWriter u64(long v) {
        type(U64);
        ensure(8);
        I64.set(buf, pos, v);
        pos += 8;
        return this;
    }

    public StateWriter bool(boolean v) {
        type(BOOL);
        ensure(1);
        buf[pos++] = (byte) (v ? 1 : 0);
        return this;
    }

    public StateWriter bytes(byte[] v) {
        return bytes(v, 0, v.length);
    }

    public StateWriter bytes(byte[] v, int offset, int length) {
        type(BYTES);
        ensure(4 + length);
        I32.set(buf, pos, length);
        System.arraycopy(v, offset, buf, pos + 4, length);
        pos += 4 + length;
        return this;
    }

    public StateWriter string(String v) {
        byte[] b = v.getBytes(StandardCharsets.UTF_8);
        type(STRING);
        ensure(4 + b.length);
        I32.set(buf, pos, b.length);
        System.arraycopy(b, 0, buf, pos + 4, b.length);
        pos += 4 + b.length;
        return this;
    }

    public StateWriter longs(long[] v) {
        type(LONGS);
        ensure(4 + 8 * v.length);
        I32.set(buf, pos, v.length);
        pos += 4;
        for (long x : v) {
            I64.set(buf, pos, x);
            pos += 8;
        }
        return this;
    }

    public StateWriter ints(int[] v) {
        type(INTS);
        ensure(4 + 4 * v.length);
        I32.set(buf, pos, v.length);
        pos += 4;
        for (int x : v) {
            I32.set(buf, pos, x);
            pos += 4;
        }
        return this;
    }

    /** Announces a list of {@code count} elements; the caller then writes each element's fields. */
    public StateWriter list(int count) {
        if (count < 0) {
            throw new IllegalArgumentException("negative list size " + count);
        }
        type(LIST);
        ensure(4);
        I32.set(buf, pos, count);
        pos += 4;
        return this;
    }

    /** The encoded bytes; every record must be closed. */
    public byte[] toByteArray() {
        if (depth != 0) {
            throw new IllegalStateException(depth + " record(s) still open");
        }
        return Arrays.copyOf(buf, pos);
    }

    private void requireOpen() {
        if (depth == 0) {
            throw new IllegalStateException("no record is open");
        }
    }

    private void type(int t) {
        requireOpen();
        ensure(1);
        buf[pos++] = (byte) t;
    }

    private void ensure(int n) {
        if (n < 0 || pos + n < 0) {
            throw new IllegalStateException("state larger than 2 GiB");
        }
        if (pos + n > buf.length) {
            buf = Arrays.copyOf(buf, (int) Math.min(Integer.MAX_VALUE - 8, Math.max(buf.length * 2L, (long) pos + n)));
        }
    }
}
