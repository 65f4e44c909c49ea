package dev.ignition.hvf.internal;

/**
 * Tiny freestanding arm64 guests for the {@code hvf} tests, as instruction words with their
 * assembly source ({@link GuestProgramsTest} checks the words against binutils).
 */
final class GuestPrograms {
    /**
     * Writes "ok\n" to the PL011 data register (32- and 8-bit stores), reads its flag register
     * into w3, stores x3 at 0x4010_0000 and 0x4020_0008 (two 16 KiB pages), then PSCI SYSTEM_OFF.
     */
    static final String UART_AND_DIRTY_SRC = """
                movz x1, #0x0900, lsl #16
                movz w2, #0x6f
                str  w2, [x1]
                movz w2, #0x6b
                str  w2, [x1]
                movz w2, #0x0a
                strb w2, [x1]
                ldr  w3, [x1, #0x18]
                movz x4, #0x4010, lsl #16
                str  x3, [x4]
                movz x4, #0x4020, lsl #16
                str  x3, [x4, #8]
                movz x0, #0x0008
                movk x0, #0x8400, lsl #16
                hvc  #0
            """;
    static final int[] UART_AND_DIRTY = {
        0xd2a12001, 0x52800de2, 0xb9000022, 0x52800d62, 0xb9000022, 0x52800142, 0x39000022, 0xb9401823,
        0xd2a80204, 0xf9000083, 0xd2a80404, 0xf9000483, 0xd2800100, 0xf2b08000, 0xd4000002,
    };

    /**
     * Sets v0 to 0xff00ff00ff00ff00 in both halves, then forever: x19 += 1, store x19 at
     * 0x0a00_0000, store v0.d[1] at 0x0a00_0008 (MMIO: each store is an exit).
     */
    static final String COUNTER_SRC = """
                movz x1, #0x0a00, lsl #16
                movi v0.2d, #0xff00ff00ff00ff00
                movz x19, #0
            loop:
                add  x19, x19, #1
                str  x19, [x1]
                umov x20, v0.d[1]
                str  x20, [x1, #8]
                b    loop
            """;
    static final int[] COUNTER = {
        0xd2a14001, 0x6f05e540, 0xd2800013, 0x91000673, 0xf9000033, 0x4e183c14, 0xf9000434, 0x17fffffc,
    };

    private GuestPrograms() {}
}
