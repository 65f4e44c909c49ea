package dev.ignition.internal.x86.linux;

import dev.ignition.guest.LinuxBootException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * An Intel MultiProcessor Specification 1.4 table: the floating pointer, then the configuration
 * table with one processor entry per vCPU, the ISA bus, the IOAPIC, 24 interrupt-source entries
 * routing ISA IRQ n to IOAPIC pin n (as KVM's in-kernel IOAPIC is wired) and LINT0 = ExtINT,
 * LINT1 = NMI. Linux finds it by scanning the last KiB of base memory for "_MP_" and uses it,
 * without ACPI, to bring up the APs and program the IOAPIC.
 */
public final class MpTable {
    /** Where the table goes: the first byte Linux scans in the last KiB of base memory. */
    public static final long ADDRESS = E820.EBDA_START;
    public static final int MAX_VCPUS = 254;
    public static final long LAPIC_ADDRESS = 0xfee0_0000L;
    public static final long IOAPIC_ADDRESS = 0xfec0_0000L;
    public static final int IOAPIC_PINS = 24;

    static final int FLOATING_SIZE = 16;
    static final int HEADER_SIZE = 44;
    static final int CPU_SIZE = 20;
    static final int SMALL_ENTRY_SIZE = 8;
    static final int APIC_VERSION = 0x14;

    private MpTable() {}

    /** Bytes the table takes for {@code vcpus} processors. */
    public static int size(int vcpus) {
        return FLOATING_SIZE + HEADER_SIZE + CPU_SIZE * vcpus + SMALL_ENTRY_SIZE * (1 + 1 + IOAPIC_PINS + 2);
    }

    /** The table for {@code vcpus} processors (APIC ids 0..n-1, IOAPIC id n+1), to be placed at {@code address}. */
    public static byte[] build(int vcpus, long address) {
        if (vcpus < 1 || vcpus > MAX_VCPUS) {
            throw new LinuxBootException("a Linux guest can have 1 to " + MAX_VCPUS + " vCPUs (the MP table gives"
                    + " each an 8-bit APIC id and the IOAPIC id n+1); asked for " + vcpus);
        }
        int ioapicId = vcpus + 1;
        ByteBuffer b = ByteBuffer.allocate(size(vcpus)).order(ByteOrder.LITTLE_ENDIAN);
        // mpf_intel
        b.put("_MP_".getBytes(StandardCharsets.US_ASCII));
        b.putInt((int) (address + FLOATING_SIZE)); // physptr
        b.put((byte) 1); // length in 16-byte units
        b.put((byte) 4); // specification 1.4
        b.put((byte) 0); // checksum, below
        b.put(new byte[5]); // feature1..5: 0 = a configuration table is present
        b.put(10, checksum(b.array(), 0, FLOATING_SIZE));

        int table = FLOATING_SIZE;
        b.put("PCMP".getBytes(StandardCharsets.US_ASCII));
        b.putShort((short) (size(vcpus) - FLOATING_SIZE)); // base table length
        b.put((byte) 4); // spec rev 1.4
        b.put((byte) 0); // checksum, below
        b.put("IGNITION".getBytes(StandardCharsets.US_ASCII)); // oem, 8 bytes
        b.put("MICROVM     ".getBytes(StandardCharsets.US_ASCII)); // product id, 12 bytes
        b.putInt(0); // oem table pointer
        b.putShort((short) 0); // oem table size
        b.putShort((short) (vcpus + 1 + 1 + IOAPIC_PINS + 2)); // entry count
        b.putInt((int) LAPIC_ADDRESS);
        b.putInt(0); // extended table length + checksum + reserved

        for (int i = 0; i < vcpus; i++) {
            b.put((byte) 0); // MP_PROCESSOR
            b.put((byte) i); // APIC id
            b.put((byte) APIC_VERSION);
            b.put((byte) (0x1 | (i == 0 ? 0x2 : 0))); // CPU_ENABLED | CPU_BOOTPROCESSOR
            b.putInt(0x600); // signature: family 6
            b.putInt(0x201); // feature flags: APIC | FPU
            b.putLong(0);
        }
        b.put((byte) 1).put((byte) 0).put("ISA   ".getBytes(StandardCharsets.US_ASCII)); // MP_BUS 0 = ISA
        b.put((byte) 2).put((byte) ioapicId).put((byte) APIC_VERSION).put((byte) 1).putInt((int) IOAPIC_ADDRESS);
        for (int irq = 0; irq < IOAPIC_PINS; irq++) {
            // MP_INTSRC, mp_INT, flags 0 (conforms to bus), bus 0 irq n -> IOAPIC pin n
            b.put((byte) 3).put((byte) 0).putShort((short) 0).put((byte) 0).put((byte) irq)
                    .put((byte) ioapicId).put((byte) irq);
        }
        // MP_LINTSRC: ExtINT on LINT0 of the BSP, NMI on LINT1 of every CPU.
        b.put((byte) 4).put((byte) 3).putShort((short) 0).put((byte) 0).put((byte) 0).put((byte) 0).put((byte) 0);
        b.put((byte) 4).put((byte) 1).putShort((short) 0).put((byte) 0).put((byte) 0).put((byte) 0xff).put((byte) 1);
        if (b.position() != b.capacity()) {
            throw new IllegalStateException("MP table size mismatch");
        }
        b.put(table + 7, checksum(b.array(), table, b.capacity() - table));
        return b.array();
    }

    /** The byte that makes {@code [from, from + length)} sum to 0 (mod 256), given its checksum byte is 0. */
    static byte checksum(byte[] bytes, int from, int length) {
        int sum = 0;
        for (int i = from; i < from + length; i++) {
            sum += bytes[i];
        }
        return (byte) -sum;
    }
}
