package dev.ignition.internal.state;

import static dev.ignition.internal.state.StateWriter.BOOL;
import static dev.ignition.internal.state.StateWriter.BYTES;
import static dev.ignition.internal.state.StateWriter.HEADER;
import static dev.ignition.internal.state.StateWriter.INTS;
import static dev.ignition.internal.state.StateWriter.LIST;
import static dev.ignition.internal.state.StateWriter.LONGS;
import static dev.ignition.internal.state.StateWriter.RECORD;
import static dev.ignition.internal.state.StateWriter.STRING;
import static dev.ignition.internal.state.StateWriter.U16;
import static dev.ignition.internal.state.StateWriter.U32;
import static dev.ignition.internal.state.StateWriter.U64;
import static dev.ignition.internal.state.StateWriter.U8;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * Reads one record written by {@link StateWriter}, field by field, in the order written. Every
 * read checks the field's type and that its bytes lie inside the record, and every length is
 * checked against the bytes left before anything is allocated, so a hostile blob fails with a
 * {@link CorruptStateException} naming the record and field, never with an index or buffer
 * exception or a huge allocation.
 *
 * <pre>{@code
 * StateReader r = StateReader.open(blob, "uart com1", "UART", 1);
 * int ier = r.u8("ier");
 * ...
 * r.end();   // no bytes left over
 * }</pre>
 */
public final class StateReader {
    private static final VarHandle I16 = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle I32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle I64 = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private final byte[] data;
    private final String context;
    private final String tag;
    private final int version;
    private final int limit;
    private final int depth;
    private int pos;

    private StateReader(byte[] data, String context, String tag, int version, int start, int limit, int depth) {
        this.data = data;
        this.context = context;
        this.tag = tag;
        this.version = version;
        this.pos = start;
        this.limit = limit;
        this.depth = depth;
    }

    /** {@link #open(byte[], String, String, int, int)} for a record with one readable version. */
    public static StateReader open(byte[] data, String context, String tag, int version) {
        return open(data, context, tag, version, version);
    }

    /**
     * Opens the record that {@code data} holds, which must fill it exactly.
     *
     * @param context what is being read, for messages (e.g. {@code "device 'com1'"})
     * @param tag the expected record tag
     * @param oldest the oldest version this reader understands
     * @param newest the newest
     * @throws CorruptStateException if {@code data} is not such a record
     * @throws UnsupportedStateVersionException if its version is outside {@code [oldest, newest]}
     */
    public static StateReader open(byte[] data, String context, String tag, int oldest, int newest) {
        StateReader whole = new StateReader(data, context, tag, -1, 0, data.length, 0);
        StateReader r = whole.frame(tag, oldest, newest, null);
        if (whole.pos != data.length) {
            throw whole.fail(null, (data.length - whole.pos) + " trailing bytes after the record");
        }
        return r;
    }

    /** The record's version, for readers of more than one. */
    public int version() {
        return version;
    }

    /** The record's tag. */
    public String tag() {
        return tag;
    }

    /** Reads a nested record field; the returned reader is bounded to it and must be {@link #end() ended}. */
    public StateReader record(String field, String expectedTag, int version) {
        return record(field, expectedTag, version, version);
    }

    public StateReader record(String field, String expectedTag, int oldest, int newest) {
        type(field, RECORD);
        return frame(expectedTag, oldest, newest, field);
    }

    private StateReader frame(String expectedTag, int oldest, int newest, @Nullable String field) {
        if (depth >= StateWriter.MAX_DEPTH) {
            throw fail(field, "records nest deeper than " + StateWriter.MAX_DEPTH);
        }
        need(field, HEADER);
        int t = (int) I32.get(data, pos);
        int v = (short) I16.get(data, pos + 4) & 0xffff;
        int len = (int) I32.get(data, pos + 6);
        pos += HEADER;
        if (t != StateWriter.tagValue(expectedTag)) {
            throw fail(field, "expected a record '" + expectedTag + "', found " + describeTag(t));
        }
        if (v < oldest || v > newest) {
            String range = oldest == newest ? "version " + newest : "versions " + oldest + " to " + newest;
            throw new UnsupportedStateVersionException(context + ": record '" + expectedTag + "' has version " + v
                    + "; this build reads " + range, expectedTag, v, newest);
        }
        if (len < 0 || len > limit - pos) {
            throw fail(field, "record '" + expectedTag + "' declares " + Integer.toUnsignedString(len)
                    + " bytes, " + (limit - pos) + " remain (truncated)");
        }
        StateReader r = new StateReader(data, context, expectedTag, v, pos, pos + len, depth + 1);
        pos += len;
        return r;
    }

    public int u8(String field) {
        type(field, U8);
        need(field, 1);
        return data[pos++] & 0xff;
    }

    /** A u8 that must be at most {@code max}. */
    public int u8(String field, int max) {
        int v = u8(field);
        if (v > max) {
            throw fail(field, v + " is out of range [0, " + max + "]");
        }
        return v;
    }

    public int u16(String field) {
        type(field, U16);
        need(field, 2);
        int v = (short) I16.get(data, pos) & 0xffff;
        pos += 2;
        return v;
    }

    /** A u16 that must be at most {@code max}. */
    public int u16(String field, int max) {
        int v = u16(field);
        if (v > max) {
            throw fail(field, v + " is out of range [0, " + max + "]");
        }
        return v;
    }

    /** A u32 as Java's int (values above 2³¹ − 1 come back negative). */
    public int u32(String field) {
        type(field, U32);
        need(field, 4);
        int v = (int) I32.get(data, pos);
        pos += 4;
        return v;
    }

    /** A u32 that must lie in {@code [min, max]}. */
    public int u32(String field, int min, int max) {
        int v = u32(field);
        if (v < min || v > max) {
            throw fail(field, Integer.toUnsignedString(v) + " is out of range [" + min + ", " + max + "]");
        }
        return v;
    }

    public long u64(String field) {
        type(field, U64);
        need(field, 8);
        long v = (long) I64.get(data, pos);
        pos += 8;
        return v;
    }

    public boolean bool(String field) {
        type(field, BOOL);
        need(field, 1);
        int v = data[pos++];
        if (v != 0 && v != 1) {
            throw fail(field, "a boolean must be 0 or 1, found " + (v & 0xff));
        }
        return v == 1;
    }

    /** A byte string of at most {@code max} bytes. */
    public byte[] bytes(String field, int max) {
        type(field, BYTES);
        int n = length(field, max, 1);
        byte[] b = Arrays.copyOfRange(data, pos, pos + n);
        pos += n;
        return b;
    }

    /** A byte string of exactly {@code length} bytes. */
    public byte[] bytesExactly(String field, int length) {
        int start = pos;
        byte[] b = bytes(field, length);
        if (b.length != length) {
            pos = start;
            throw fail(field, "must be " + length + " bytes, found " + b.length);
        }
        return b;
    }

    /** A UTF-8 string of at most {@code maxBytes} bytes; malformed UTF-8 is refused. */
    public String string(String field, int maxBytes) {
        type(field, STRING);
        int n = length(field, maxBytes, 1);
        try {
            String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(data, pos, n)).toString();
            pos += n;
            return s;
        } catch (CharacterCodingException e) {
            throw fail(field, "not valid UTF-8");
        }
    }

    /** An array of at most {@code max} u64. */
    public long[] longs(String field, int max) {
        type(field, LONGS);
        int n = length(field, max, 8);
        long[] v = new long[n];
        for (int i = 0; i < n; i++) {
            v[i] = (long) I64.get(data, pos);
            pos += 8;
        }
        return v;
    }

    /** An array of at most {@code max} u32. */
    public int[] ints(String field, int max) {
        type(field, INTS);
        int n = length(field, max, 4);
        int[] v = new int[n];
        for (int i = 0; i < n; i++) {
            v[i] = (int) I32.get(data, pos);
            pos += 4;
        }
        return v;
    }

    /**
     * A list's element count, at most {@code max}; the caller reads each element's fields. Each
     * element takes at least {@code minElementBytes}, so a count larger than the bytes left can
     * hold is refused before the caller allocates for it.
     */
    public int list(String field, int max, int minElementBytes) {
        type(field, LIST);
        return length(field, max, Math.max(1, minElementBytes));
    }

    /** Checks that every byte of the record was read. */
    public void end() {
        if (pos != limit) {
            throw fail(null, (limit - pos) + " unread bytes at the end of the record (a field this build does not know)");
        }
    }

    /** An exception for a value that decoded but does not fit, naming this record and {@code field}. */
    public CorruptStateException invalid(String field, String problem) {
        return fail(field, problem);
    }

    private int length(String field, int max, int unit) {
        need(field, 4);
        int n = (int) I32.get(data, pos);
        pos += 4;
        if (n < 0 || n > max) {
            throw fail(field, "holds " + Integer.toUnsignedString(n) + " elements, at most " + max + " allowed");
        }
        if ((long) n * unit > limit - pos) {
            throw fail(field, "holds " + n + " elements of at least " + unit + " bytes, only " + (limit - pos)
                    + " bytes remain (truncated)");
        }
        return n;
    }

    private void type(String field, int expected) {
        need(field, 1);
        int t = data[pos];
        if (t != expected) {
            throw fail(field, "expected a " + typeName(expected) + ", found " + typeName(t & 0xff));
        }
        pos++;
    }

    private void need(@Nullable String field, int n) {
        if (limit - pos < n) {
            throw fail(field, "truncated: needs " + n + " more bytes, " + (limit - pos) + " remain");
        }
    }

    private CorruptStateException fail(@Nullable String field, String problem) {
        String where = depth == 0 ? "" : "record '" + tag + "' v" + version + (field == null ? "" : ", ");
        String f = field == null ? "" : "field '" + field + "'";
        return new CorruptStateException(context + ": " + where + f + (where.isEmpty() && f.isEmpty() ? "" : ": ")
                + problem, depth == 0 ? null : tag, field);
    }

    private static String describeTag(int t) {
        StringBuilder s = new StringBuilder("'");
        for (int i = 0; i < 4; i++) {
            int c = (t >>> (8 * i)) & 0xff;
            if (c < 0x20 || c > 0x7e) {
                return "0x" + Integer.toHexString(t);
            }
            s.append((char) c);
        }
        return s.append('\'').toString();
    }

    private static String typeName(int t) {
        return switch (t) {
            case U8 -> "u8";
            case U16 -> "u16";
            case U32 -> "u32";
            case U64 -> "u64";
            case BOOL -> "bool";
            case BYTES -> "byte string";
            case STRING -> "string";
            case LONGS -> "u64 array";
            case INTS -> "u32 array";
            case RECORD -> "record";
            case LIST -> "list";
            default -> "unknown type " + t;
        };
    }
}
