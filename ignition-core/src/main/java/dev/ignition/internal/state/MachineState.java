package dev.ignition.internal.state;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything of a VM a snapshot holds besides memory and disks: the top record of the VM state
 * (tag {@code IGVM}), written once per layer by the snapshot store's facade.
 *
 * <p>Version history: format 1 (no record: a {@code Properties} header {@code ignition.meta} and
 * one store entry per blob, {@code vcpu.N}, {@code hypervisor}, {@code device.NAME}) is not read;
 * format 2 is this record.
 *
 * @param backend the backend that captured it ({@code kvm}, {@code hvf}); restores need the same
 * @param memoryBytes bytes of guest RAM
 * @param vcpus one backend blob per vCPU, in vCPU order (its count is the VM's vCPU count)
 * @param hypervisor the backend's VM-wide blob (interrupt controllers, timers, clock)
 * @param devices device states by device name, in the VM's device order; devices without state
 *     are absent
 */
public record MachineState(String backend, long memoryBytes, List<byte[]> vcpus, byte[] hypervisor,
        Map<String, byte[]> devices) {
    public static final String TAG = "IGVM";
    /** The VM-state format version: this record's version. */
    public static final int FORMAT_VERSION = 2;
    /** The VM-state format the last release before typed state wrote (a {@code Properties} header). */
    public static final int LEGACY_FORMAT_VERSION = 1;
    /** Longest backend or device name, in UTF-8 bytes. */
    static final int MAX_NAME = 256;
    static final int MAX_DEVICES = 4096;
    /** The largest single blob: the store caps all state at 256 MiB anyway. */
    static final int MAX_BLOB = 256 << 20;

    public MachineState {
        vcpus = List.copyOf(vcpus);
        devices = Collections.unmodifiableMap(new LinkedHashMap<>(devices));
    }

    /** Encodes the record; the blobs are copied into the output once. */
    public byte[] encode() {
        long size = 64L + hypervisor.length;
        for (byte[] v : vcpus) {
            size += 8 + v.length;
        }
        for (Map.Entry<String, byte[]> e : devices.entrySet()) {
            size += 16 + e.getKey().length() * 3L + e.getValue().length;
        }
        StateWriter w = new StateWriter((int) Math.min(size, Integer.MAX_VALUE - 16));
        w.begin(TAG, FORMAT_VERSION).string(backend).u64(memoryBytes).list(vcpus.size());
        for (byte[] v : vcpus) {
            w.bytes(v);
        }
        w.bytes(hypervisor).list(devices.size());
        devices.forEach((name, st) -> w.string(name).bytes(st));
        return w.end().toByteArray();
    }

    /**
     * Decodes and checks what {@link #encode()} wrote.
     *
     * @param context what is read, for messages (e.g. {@code "snapshot 'base'"})
     * @param maxVcpus the most vCPUs a VM may have
     * @throws UnsupportedStateVersionException for another format version
     * @throws CorruptStateException for anything malformed
     */
    public static MachineState decode(byte[] data, String context, int maxVcpus) {
        StateReader r = StateReader.open(data, context, TAG, FORMAT_VERSION);
        String backend = r.string("backend", MAX_NAME);
        if (backend.isEmpty()) {
            throw r.invalid("backend", "empty");
        }
        long memory = r.u64("memoryBytes");
        if (memory <= 0) {
            throw r.invalid("memoryBytes", "must be positive, was " + Long.toUnsignedString(memory));
        }
        int n = r.list("vcpus", maxVcpus, 5);
        if (n < 1) {
            throw r.invalid("vcpus", "a VM has at least one vCPU");
        }
        List<byte[]> vcpus = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            vcpus.add(r.bytes("vcpus[" + i + "]", MAX_BLOB));
        }
        byte[] hv = r.bytes("hypervisor", MAX_BLOB);
        int d = r.list("devices", MAX_DEVICES, 10);
        Map<String, byte[]> devices = new LinkedHashMap<>();
        for (int i = 0; i < d; i++) {
            String name = r.string("devices[" + i + "].name", MAX_NAME);
            byte[] st = r.bytes("devices[" + i + "].state", MAX_BLOB);
            if (devices.put(name, st) != null) {
                throw r.invalid("devices[" + i + "].name", "device '" + name + "' appears twice");
            }
        }
        r.end();
        return new MachineState(backend, memory, vcpus, hv, devices);
    }

    /** The vCPU count. */
    public int vcpuCount() {
        return vcpus.size();
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof MachineState m) || !backend.equals(m.backend) || memoryBytes != m.memoryBytes
                || vcpus.size() != m.vcpus.size() || !Arrays.equals(hypervisor, m.hypervisor)
                || !devices.keySet().equals(m.devices.keySet())) {
            return false;
        }
        for (int i = 0; i < vcpus.size(); i++) {
            if (!Arrays.equals(vcpus.get(i), m.vcpus.get(i))) {
                return false;
            }
        }
        for (Map.Entry<String, byte[]> e : devices.entrySet()) {
            if (!Arrays.equals(e.getValue(), m.devices.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        return backend.hashCode() * 31 + Long.hashCode(memoryBytes) + vcpus.size();
    }

    @Override
    public String toString() {
        return "MachineState[" + backend + ", " + vcpus.size() + " vCPU, " + memoryBytes + " bytes, devices "
                + devices.keySet() + "]";
    }
}
