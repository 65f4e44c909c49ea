package dev.ignition.kvm.internal;

import dev.ignition.IgnitionException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The byte format of captured KVM vCPU and VM state: magic, format version, then records of
 * (tag, length, bytes), each the struct one {@code KVM_GET_*} ioctl returned. Decoding checks
 * every length against the buffer, so a corrupted or crafted blob is rejected with a message
 * instead of being handed to the kernel.
 */
final class KvmStateCodec {
    static final int VERSION = 1;
    private static final int MAGIC_VCPU = 0x5643_4b49; // "IKCV"
    private static final int MAGIC_VM = 0x4d56_4b49; // "IKVM"
    private static final int MAX_TAG_LENGTH = 64;

    enum Kind { VCPU, VM }

    private final Kind kind;
    private final Map<String, byte[]> records = new LinkedHashMap<>();

    KvmStateCodec(Kind kind) {
        this.kind = kind;
    }

    KvmStateCodec put(String tag, byte[] value) {
        records.put(tag, value);
        return this;
    }

    /** The record {@code tag}, which must have {@code expectedLength} bytes unless that is negative. */
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
        b.putInt(magic(kind)).putInt(VERSION);
        for (Map.Entry<String, byte[]> e : records.entrySet()) {
            byte[] tag = e.getKey().getBytes(StandardCharsets.US_ASCII);
            b.putShort((short) tag.length).put(tag).putInt(e.getValue().length).put(e.getValue());
        }
        return b.array();
    }

    static KvmStateCodec decode(Kind kind, byte[] data) {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        try {
            int magic = b.getInt();
            if (magic != magic(kind)) {
                throw new IgnitionException("not a KVM " + kind + " state blob (magic 0x" + Integer.toHexString(magic) + ")");
            }
            int version = b.getInt();
            if (version != VERSION) {
                throw new IgnitionException("KVM " + kind + " state format version " + version
                        + " is not supported (this build reads version " + VERSION + ")");
            }
            KvmStateCodec blob = new KvmStateCodec(kind);
            while (b.hasRemaining()) {
                int tagLen = Short.toUnsignedInt(b.getShort());
                if (tagLen == 0 || tagLen > MAX_TAG_LENGTH || tagLen > b.remaining()) {
                    throw new IgnitionException("KVM " + kind + " state blob is corrupt (tag length " + tagLen + ")");
                }
                byte[] tagBytes = new byte[tagLen];
                b.get(tagBytes);
                String tag = new String(tagBytes, StandardCharsets.US_ASCII);
                int len = b.getInt();
                if (len < 0 || len > b.remaining()) {
                    throw new IgnitionException("KVM " + kind + " state blob is truncated in record '" + tag + "'");
                }
                if (blob.records.containsKey(tag)) {
                    // The encoder writes each tag once; a second copy is corruption, not an update.
                    throw new IgnitionException("KVM " + kind + " state blob is corrupt (record '" + tag + "' twice)");
                }
                byte[] value = new byte[len];
                b.get(value);
                blob.records.put(tag, value);
            }
            return blob;
        } catch (BufferUnderflowException e) {
            throw new IgnitionException("KVM " + kind + " state blob is truncated", e);
        }
    }

    private static int magic(Kind kind) {
        return kind == Kind.VCPU ? MAGIC_VCPU : MAGIC_VM;
    }
}
