package dev.ignition.device;

/**
 * A device on the x86 I/O port bus, claiming ports {@code [basePort, basePort + portCount)}.
 *
 * <p>Example: a device that answers 42 on port 0x510.
 * <pre>{@code
 * PortIoDevice answer = new PortIoDevice() {
 *     public String name() { return "answer"; }
 *     public int basePort() { return 0x510; }
 *     public int portCount() { return 1; }
 *     public long read(int offset, int size) { return 42; }
 *     public void write(int offset, int size, long value) {}
 * };
 * }</pre>
 */
public interface PortIoDevice extends Device {
    int basePort();

    int portCount();

    /** The guest reads {@code size} (1, 2 or 4) bytes at {@code basePort + offset}. */
    long read(int offset, int size);

    /** The guest writes {@code size} (1, 2 or 4) bytes at {@code basePort + offset}. */
    void write(int offset, int size, long value);
}
