package dev.ignition.device;

/**
 * A memory-mapped device claiming guest-physical {@code [baseAddress, baseAddress + length)},
 * which must lie outside guest RAM.
 */
public interface MmioDevice extends Device {
    long baseAddress();

    long length();

    /** The guest reads {@code size} (1, 2, 4 or 8) bytes at {@code baseAddress + offset}. */
    long read(long offset, int size);

    /** The guest writes {@code size} (1, 2, 4 or 8) bytes at {@code baseAddress + offset}. */
    void write(long offset, int size, long value);
}
