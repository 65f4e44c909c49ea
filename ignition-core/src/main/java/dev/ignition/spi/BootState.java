package dev.ignition.spi;

/** Initial register state of the boot vCPU, per architecture. */
public sealed interface BootState {
    /**
     * x86_64 64-bit entry: long mode with paging on, flat 64-bit code segment, interrupts off.
     * The loader has written the GDT and page tables into guest memory. At CPL 3 the segments are
     * the user ones (code 0x33, data 0x2b, both DPL 3) and RFLAGS.IOPL is 3, so port I/O needs no
     * privilege.
     *
     * @param rip entry point
     * @param rsp initial stack pointer
     * @param rsi value for RSI (the zero page for Linux, 0 otherwise)
     * @param cr3 guest-physical address of the PML4
     * @param gdtBase guest-physical address of the GDT (null, kernel code 0x08, kernel data 0x10,
     *     TSS 0x18, user data 0x2b, user code 0x33)
     * @param idtBase guest-physical address of an (empty) IDT
     * @param cpl the privilege level the vCPU starts at: 0 (Linux) or 3 (freestanding guests)
     */
    record X86LongMode(long rip, long rsp, long rsi, long cr3, long gdtBase, long idtBase, int cpl)
            implements BootState {
        public X86LongMode {
            if (cpl != 0 && cpl != 3) {
                throw new IllegalArgumentException("cpl must be 0 or 3, was " + cpl);
            }
        }
    }

    /**
     * arm64 Linux boot protocol entry: EL1, MMU off, {@code x0} = device tree address.
     *
     * @param pc entry point
     * @param x0 device tree blob address
     */
    record Arm64(long pc, long x0) implements BootState {}

    /**
     * No boot: the vCPU's whole state is restored from a snapshot before it first runs, so the
     * backend need not set up registers that the restore replaces at once.
     */
    record Restored() implements BootState {}
}
