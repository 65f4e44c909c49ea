package dev.ignition.internal.device;

import dev.ignition.device.Device;
import dev.ignition.device.MmioDevice;
import dev.ignition.device.PortIoDevice;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Routes port and MMIO accesses to devices. Accesses nobody claims read as all ones and writes
 * are dropped, like an empty ISA bus; a device that throws is marked broken and from then on
 * behaves like an empty slot, so a hostile guest can kill a device but never the host.
 */
public final class DeviceBus {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceBus.class);
    private static final int MAX_LOGGED_UNCLAIMED = 16;

    private final TreeMap<Integer, PortIoDevice> ports = new TreeMap<>();
    private final TreeMap<Long, MmioDevice> mmio = new TreeMap<>();
    private final List<Device> all = new ArrayList<>();
    private final Set<Device> broken = ConcurrentHashMap.newKeySet();
    private final Map<Long, Boolean> loggedUnclaimed = new ConcurrentHashMap<>();
    private final AtomicLong unclaimedAccesses = new AtomicLong();

    /** Checks that the devices' ranges are sane and do not overlap; adds one sentence per problem. */
    public static void validate(List<? extends Device> devices, List<String> problems) {
        DeviceBus probe = new DeviceBus();
        for (Device d : devices) {
            String p = probe.tryAdd(d);
            if (p != null) {
                problems.add(p);
            }
        }
    }

    /** Adds a device; throws {@link IllegalArgumentException} if its range is bad or taken. */
    public void add(Device device) {
        String problem = tryAdd(device);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
    }

    private String tryAdd(Device d) {
        if (d instanceof PortIoDevice p) {
            int base = p.basePort();
            int count = p.portCount();
            if (base < 0 || count < 1 || base + count > 0x10000) {
                return "device '" + d.name() + "' claims ports outside 0..0xffff (base 0x"
                        + Integer.toHexString(base) + ", count " + count + ")";
            }
            Map.Entry<Integer, PortIoDevice> below = ports.floorEntry(base + count - 1);
            if (below != null && below.getKey() + below.getValue().portCount() > base) {
                return "device '" + d.name() + "' ports overlap those of '" + below.getValue().name() + "'";
            }
            ports.put(base, p);
        } else if (d instanceof MmioDevice m) {
            long base = m.baseAddress();
            long len = m.length();
            if (base < 0 || len < 1 || base + len < base) {
                return "device '" + d.name() + "' claims an invalid MMIO range (base 0x"
                        + Long.toHexString(base) + ", length " + len + ")";
            }
            Map.Entry<Long, MmioDevice> below = mmio.floorEntry(base + len - 1);
            if (below != null && below.getKey() + below.getValue().length() > base) {
                return "device '" + d.name() + "' MMIO range overlaps that of '" + below.getValue().name() + "'";
            }
            mmio.put(base, m);
        } else {
            return "device '" + d.name() + "' is neither a PortIoDevice nor an MmioDevice";
        }
        all.add(d);
        return null;
    }

    public List<Device> devices() {
        return List.copyOf(all);
    }

    /** How many accesses hit no device (a debugging aid and a test hook). */
    public long unclaimedAccesses() {
        return unclaimedAccesses.get();
    }

    public long readPort(int port, int size) {
        Map.Entry<Integer, PortIoDevice> e = ports.floorEntry(port);
        if (e != null && port < e.getKey() + e.getValue().portCount() && !broken.contains(e.getValue())) {
            PortIoDevice d = e.getValue();
            try {
                synchronized (d) {
                    return d.read(port - e.getKey(), size) & mask(size);
                }
            } catch (RuntimeException ex) {
                markBroken(d, ex);
            }
        }
        unclaimed("port read", port);
        return mask(size);
    }

    public void writePort(int port, int size, long value) {
        Map.Entry<Integer, PortIoDevice> e = ports.floorEntry(port);
        if (e != null && port < e.getKey() + e.getValue().portCount() && !broken.contains(e.getValue())) {
            PortIoDevice d = e.getValue();
            try {
                synchronized (d) {
                    d.write(port - e.getKey(), size, value & mask(size));
                }
                return;
            } catch (RuntimeException ex) {
                markBroken(d, ex);
            }
        }
        unclaimed("port write", port);
    }

    public long readMmio(long address, int size) {
        Map.Entry<Long, MmioDevice> e = mmio.floorEntry(address);
        if (e != null && address - e.getKey() < e.getValue().length() && !broken.contains(e.getValue())) {
            MmioDevice d = e.getValue();
            try {
                synchronized (d) {
                    return d.read(address - e.getKey(), size) & mask(size);
                }
            } catch (RuntimeException ex) {
                markBroken(d, ex);
            }
        }
        unclaimed("MMIO read", address);
        return mask(size);
    }

    public void writeMmio(long address, int size, long value) {
        Map.Entry<Long, MmioDevice> e = mmio.floorEntry(address);
        if (e != null && address - e.getKey() < e.getValue().length() && !broken.contains(e.getValue())) {
            MmioDevice d = e.getValue();
            try {
                synchronized (d) {
                    d.write(address - e.getKey(), size, value & mask(size));
                }
                return;
            } catch (RuntimeException ex) {
                markBroken(d, ex);
            }
        }
        unclaimed("MMIO write", address);
    }

    static long mask(int size) {
        return size >= 8 ? -1L : (1L << (8 * size)) - 1;
    }

    private void markBroken(Device d, RuntimeException ex) {
        if (broken.add(d)) {
            LOG.warn("device '{}' failed and is now disabled: {}", d.name(), ex.toString(), ex);
        }
    }

    private void unclaimed(String what, long address) {
        unclaimedAccesses.incrementAndGet();
        if (loggedUnclaimed.size() < MAX_LOGGED_UNCLAIMED && loggedUnclaimed.putIfAbsent(address, true) == null) {
            LOG.debug("guest {} at 0x{} hit no device", what, Long.toHexString(address));
        }
    }
}
