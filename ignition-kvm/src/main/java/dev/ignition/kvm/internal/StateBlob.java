package dev.ignition.kvm.internal;

import dev.ignition.IgnitionException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A small tagged container for captured KVM state: magic, format version, then records of
 * (tag, length, bytes). Decoding checks every length against the buffer, so a corrupted or
 * crafted blob is rejected with a message instead of being handed to the kernel.
 */
final class StateBlob {
    static final int VERSION = 1;
    private static final int MAGIC_VCPU = 0x5643_4b49; // "IKCV"
    private static final int MAGIC_VM = 0x4d56_4b49; // "IKVM"

    enum Kind { VCPU, VM }

    private final Kind kind;
    private final Map<String, byte[]> records = new LinkedHashMap<>();

    StateBlob(Kind kind) {
        this.kind = kind;
    }

    StateBlob put(String tag, byte[] value) {
        records.put(tag, value);
        return this;
    }

    byte[] get(String tag, int expectedLength) {
        byte[] v = records.get(tag);
        if (v == null) {
            throw new IgnitionException("KVM " + kind + " state lacks '" + tag + "'");
        }
        if (expectedLength >= 0 && v.length != expectedLength) {
            throw new IgnitionException("KVM " + kind + " state '" + tag + "' has " + v.length
                    + " bytes, expected " + expectedLength);
        }
        return v;
    }

    boolean has(String tag) {
        return records.containsKey(tag);
    }

    byte[] encode() {
        int size = 8;
        for (Map.Entry<String, byte[]> e : records.entrySet()) {
            size += 2 + e.getKey().length() + 4 + e.getValue().length;
        }
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(kind == Kind.VCPU ? MAGIC_VCPU : MAGIC_VM).putInt(VERSION);
        for (Map.Entry<String, byte[]> e : records.entrySet()) {
            byte[] tag = e.getKey().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            b.putShort((short) tag.length).put(tag).putInt(e.getValue().length).put(e.getValue());
        }
        return b.array();
    }

    static StateBlob decode(Kind kind, byte[] data) {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        try {
            int magic = b.getInt();
            if (magic != (kind == Kind.VCPU ? MAGIC_VCPU : MAGIC_VM)) {
                throw new IgnitionException("not a KVM " + kind + " state blob (magic 0x" + Integer.toHexString(magic) + ")");
            }
            int version = b.getInt();
            if (version != VERSION) {
                throw new IgnitionException("KVM " + kind + " state format version " + version
                        + " is not supported (this build reads version " + VERSION + ")");
            }
            StateBlob blob = new StateBlob(kind);
            while (b.hasRemaining()) {
                int tagLen = Short.toUnsignedInt(b.getShort());
                if (tagLen == 0 || tagLen > 64 || tagLen > b.remaining()) {
                    throw new IgnitionException("KVM " + kind + " state blob is corrupt (tag length " + tagLen + ")");
                }
                byte[] tag = new byte[tagLen];
                b.get(tag);
                int len = b.getInt();
                if (len < 0 || len > b.remaining()) {
                    throw new IgnitionException("KVM " + kind + " state blob is truncated in record '"
                            + new String(tag, java.nio.charset.StandardCharsets.US_ASCII) + "'");
                }
                byte[] value = new byte[len];
                b.get(value);
                blob.records.put(new String(tag, java.nio.charset.StandardCharsets.US_ASCII), value);
            }
            return blob;
        } catch (java.nio.BufferUnderflowException e) {
            throw new IgnitionException("KVM " + kind + " state blob is truncated", e);
        }
    }
}
