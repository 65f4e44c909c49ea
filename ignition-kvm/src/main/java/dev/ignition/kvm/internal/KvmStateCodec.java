package dev.ignition.kvm.internal;

import dev.ignition.IgnitionException;
import dev.ignition.internal.state.CorruptStateException;
import dev.ignition.internal.state.StateReader;
import dev.ignition.internal.state.StateWriter;
import dev.ignition.internal.state.UnsupportedStateVersionException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Captured KVM vCPU and VM state on the snapshot's one state encoding ({@link StateWriter}): a
 * record {@code KVCP} (vCPU) or {@code KVVM} (VM) holding a list of named sections, each the
 * struct one {@code KVM_GET_*} ioctl returned. The reader bounds every length before allocating,
 * so a corrupted or crafted blob is rejected with a message instead of being handed to the
 * kernel; the callers check each section's exact size against the struct it must fill.
 */
final class KvmStateCodec {
    /** Version 2: on the shared encoding (version 1 was a format of this class's own). */
    static final int VERSION = 2;
    private static final int MAX_TAG_LENGTH = 64;
    private static final int MAX_SECTIONS = 64;
    /** Larger than any KVM struct (XSAVE with AMX is 11 KiB, CPUID with 256 entries 10 KiB). */
    private static final int MAX_SECTION_BYTES = 1 << 20;

    enum Kind {
        VCPU("KVCP"),
        VM("KVVM");

        final String recordTag;

        Kind(String recordTag) {
            this.recordTag = recordTag;
        }
    }

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
        int size = 16;
        for (Map.Entry<String, byte[]> e : records.entrySet()) {
            size += 10 + e.getKey().length() + e.getValue().length;
        }
        StateWriter w = new StateWriter(size).begin(kind.recordTag, VERSION).list(records.size());
        records.forEach((tag, value) -> w.string(tag).bytes(value));
        return w.end().toByteArray();
    }

    /**
     * Decodes a blob from {@link #encode()}.
     *
     * @throws CorruptStateException if it is not such a blob
     * @throws UnsupportedStateVersionException for another version
     */
    static KvmStateCodec decode(Kind kind, byte[] data) {
        StateReader r = StateReader.open(data, "KVM " + kind + " state", kind.recordTag, VERSION);
        int n = r.list("sections", MAX_SECTIONS, 10);
        KvmStateCodec blob = new KvmStateCodec(kind);
        for (int i = 0; i < n; i++) {
            String tag = r.string("section name", MAX_TAG_LENGTH);
            if (tag.isEmpty()) {
                throw r.invalid("section name", "empty");
            }
            byte[] value = r.bytes(tag, MAX_SECTION_BYTES);
            if (blob.records.putIfAbsent(tag, value) != null) {
                // The encoder writes each section once; a second copy is corruption, not an update.
                throw r.invalid(tag, "appears twice");
            }
        }
        r.end();
        return blob;
    }
}
