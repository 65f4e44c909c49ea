package dev.ignition.guest;

import static dev.ignition.internal.asm.X86Assembler.Reg.R10;
import static dev.ignition.internal.asm.X86Assembler.Reg.R11;
import static dev.ignition.internal.asm.X86Assembler.Reg.R8;
import static dev.ignition.internal.asm.X86Assembler.Reg.R9;
import static dev.ignition.internal.asm.X86Assembler.Reg.RAX;
import static dev.ignition.internal.asm.X86Assembler.Reg.RBX;
import static dev.ignition.internal.asm.X86Assembler.Reg.RCX;
import static dev.ignition.internal.asm.X86Assembler.Reg.RDI;
import static dev.ignition.internal.asm.X86Assembler.Reg.RDX;
import static dev.ignition.internal.asm.X86Assembler.Reg.RSI;

import dev.ignition.internal.asm.X86Assembler.Cond;
import dev.ignition.internal.asm.X86Assembler.Label;
import dev.ignition.internal.asm.X86Assembler;
import java.util.function.LongUnaryOperator;

/**
 * Tiny x86_64 guests for tests, demos and benchmarks, assembled in Java at run time (no external
 * toolchain). They talk over the COM1 UART and end the VM through the exit port (0xf4). Like every
 * {@link FreestandingGuest} they run at CPL 3 and use no privileged instruction.
 *
 * <pre>{@code
 * VirtualMachine vm = VirtualMachine.builder().guest(TestGuests.echo()).build();
 * vm.start();
 * vm.console().waitFor(TestGuests.ECHO_READY, Duration.ofSeconds(5));
 * vm.console().write("ping");
 * vm.console().waitFor("ping", Duration.ofSeconds(5));
 * }</pre>
 */
public final class TestGuests {
    /** Where every test guest is loaded and entered. */
    public static final long LOAD_ADDRESS = 0x10_0000;
    /** What {@link #hello()} prints. */
    public static final String HELLO_TEXT = "Hello from an Ignition guest!\n";
    /** {@link #echo()} prints this once it listens. */
    public static final String ECHO_READY = "echo ready\n";
    /** {@link #dirtier(int)} prints this once it listens. */
    public static final String DIRTIER_READY = "dirtier ready\n";
    /** Start of the memory {@link #dirtier(int)} writes. */
    public static final long DIRTIER_DATA = 0x20_0000;
    /** Byte that makes {@link #echo()} exit with code 0. */
    public static final byte ECHO_EXIT = 0x04;

    private static final long PATTERN_MULTIPLIER = 0x9E37_79B9_7F4A_7C15L;
    private static final long CHECKSUM_MULTIPLIER = 0x100_0000_01B3L;
    private static final int COM1 = 0x3f8;
    private static final int EXIT_PORT = 0xf4;
    private static final long MIN_MEMORY = 2L << 20;
    /** Loop iterations between two polls of the UART (about a microsecond on hardware). */
    private static final int POLL_BACKOFF_SPINS = 2000;

    private TestGuests() {}

    /** Prints {@link #HELLO_TEXT} and exits with code 0. */
    public static FreestandingGuest hello() {
        Program p = new Program();
        Label msg = p.a.label();
        p.a.mov(RSI, msg);
        p.a.call(p.puts);
        p.exit(0);
        p.a.bind(msg);
        p.a.ascii(HELLO_TEXT);
        p.a.db((byte) 0);
        return p.build("hello", MIN_MEMORY);
    }

    /** Prints 1, 2, 3, … one per line, forever; the count lives in a register. */
    public static FreestandingGuest counter() {
        Program p = new Program();
        X86Assembler a = p.a;
        a.mov(RBX, 0);
        Label loop = a.label();
        a.bind(loop);
        a.inc(RBX);
        a.mov(RAX, RBX);
        a.call(p.printDec);
        a.mov(RAX, '\n');
        a.call(p.putc);
        a.jmp(loop);
        return p.build("counter", MIN_MEMORY);
    }

    /** Prints {@link #ECHO_READY}, then echoes every byte it receives; {@link #ECHO_EXIT} exits with 0. */
    public static FreestandingGuest echo() {
        Program p = new Program();
        X86Assembler a = p.a;
        Label ready = a.label();
        Label loop = a.label();
        Label quit = a.label();
        a.mov(RSI, ready);
        a.call(p.puts);
        a.bind(loop);
        a.call(p.getc);
        a.cmp(RAX, ECHO_EXIT);
        a.jcc(Cond.E, quit);
        a.call(p.putc);
        a.jmp(loop);
        a.bind(quit);
        p.exit(0);
        a.bind(ready);
        a.ascii(ECHO_READY);
        a.db((byte) 0);
        return p.build("echo", MIN_MEMORY);
    }

    /**
     * Writes memory on command. Prints {@link #DIRTIER_READY}, then for each byte received:
     * {@code q} exits with 0; {@code ?} prints {@code sum=<16 hex digits>\n}, the checksum of its
     * data; any other byte {@code g} fills {@code pages} 4 KiB pages from {@link #DIRTIER_DATA} with
     * the pattern of generation {@code g} (see {@link #dirtierPattern}) and prints the checksum.
     */
    public static FreestandingGuest dirtier(int pages) {
        if (pages < 1 || pages > (1 << 22)) {
            throw new IllegalArgumentException("pages must be between 1 and 4194304, was " + pages);
        }
        long end = DIRTIER_DATA + (long) pages * 4096;
        Program p = new Program();
        X86Assembler a = p.a;
        Label ready = a.label();
        Label sumMsg = a.label();
        Label loop = a.label();
        Label quit = a.label();
        Label report = a.label();
        Label write = a.label();
        Label checksum = a.label();
        a.mov(RSI, ready);
        a.call(p.puts);
        a.bind(loop);
        a.call(p.getc);
        a.cmp(RAX, 'q');
        a.jcc(Cond.E, quit);
        a.cmp(RAX, '?');
        a.jcc(Cond.E, report);
        // r9 = g * PATTERN_MULTIPLIER; every qword at address x becomes x ^ r9.
        a.mov(R9, PATTERN_MULTIPLIER);
        a.imul(R9, RAX);
        a.mov(RDI, DIRTIER_DATA);
        a.mov(R10, end);
        a.bind(write);
        a.mov(RAX, RDI);
        a.xor(RAX, R9);
        a.store(RDI, 0, RAX);
        a.add(RDI, 8);
        a.cmp(RDI, R10);
        a.jcc(Cond.B, write);
        a.bind(report);
        a.call(checksum);
        a.mov(RSI, sumMsg);
        a.call(p.puts);
        a.call(p.printHex);
        a.mov(RAX, '\n');
        a.call(p.putc);
        a.jmp(loop);
        a.bind(quit);
        p.exit(0);
        // checksum: rax = fold(rax * M + qword) over the data
        a.bind(checksum);
        a.mov(RDI, DIRTIER_DATA);
        a.mov(R10, end);
        a.mov(RAX, 0);
        a.mov(R11, CHECKSUM_MULTIPLIER);
        Label c = a.label();
        a.bind(c);
        a.imul(RAX, R11);
        a.load(RCX, RDI, 0);
        a.add(RAX, RCX);
        a.add(RDI, 8);
        a.cmp(RDI, R10);
        a.jcc(Cond.B, c);
        a.ret();
        a.bind(ready);
        a.ascii(DIRTIER_READY);
        a.db((byte) 0);
        a.bind(sumMsg);
        a.ascii("sum=");
        a.db((byte) 0);
        return p.build("dirtier(" + pages + ")", end);
    }

    /** The qword {@link #dirtier(int)} writes at guest address {@code address} in generation {@code g}. */
    public static long dirtierPattern(long address, int generation) {
        return address ^ ((generation & 0xff) * PATTERN_MULTIPLIER);
    }

    /** The checksum {@link #dirtier(int)} reports for {@code pages} pages holding generation {@code g}. */
    public static long dirtierChecksum(int pages, int generation) {
        long sum = 0;
        for (long x = DIRTIER_DATA; x < DIRTIER_DATA + (long) pages * 4096; x += 8) {
            sum = sum * CHECKSUM_MULTIPLIER + dirtierPattern(x, generation);
        }
        return sum;
    }

    /** The checksum {@link #dirtier(int)} computes, over qwords read from memory by {@code reader}. */
    public static long dirtierChecksum(int pages, LongUnaryOperator reader) {
        long sum = 0;
        for (long x = DIRTIER_DATA; x < DIRTIER_DATA + (long) pages * 4096; x += 8) {
            sum = sum * CHECKSUM_MULTIPLIER + reader.applyAsLong(x);
        }
        return sum;
    }

    /**
     * Probes what lies outside RAM: reads and writes 8 bytes at 0xD000_0000 (the MMIO gap, no
     * device) and at {@code unbackedAddress} (above RAM), and 4 bytes at the unclaimed port 0x510,
     * printing {@code mmio=…}, {@code high=…}, {@code port=…} (16 hex digits each) and
     * {@code probe done}, then exits with 0.
     */
    public static FreestandingGuest prober(long unbackedAddress) {
        Program p = new Program();
        X86Assembler a = p.a;
        Label mmio = a.label();
        Label high = a.label();
        Label port = a.label();
        Label done = a.label();
        p.probeLoad(0xD000_0000L, mmio);
        p.probeLoad(unbackedAddress, high);
        a.mov(RDX, 0x510);
        a.mov(RAX, 0);
        a.inEaxDx();
        a.outDxEax();
        a.mov(RSI, port);
        a.call(p.puts);
        a.call(p.printHex);
        a.mov(RAX, '\n');
        a.call(p.putc);
        a.mov(RSI, done);
        a.call(p.puts);
        p.exit(0);
        a.bind(mmio);
        a.ascii("mmio=");
        a.db((byte) 0);
        a.bind(high);
        a.ascii("high=");
        a.db((byte) 0);
        a.bind(port);
        a.ascii("port=");
        a.db((byte) 0);
        a.bind(done);
        a.ascii("probe done\n");
        a.db((byte) 0);
        return p.build("prober", MIN_MEMORY);
    }

    /** Spins forever without ever leaving the guest: for stop and kick tests. */
    public static FreestandingGuest spinner() {
        Program p = new Program();
        Label l = p.a.label();
        p.a.bind(l);
        p.a.jmp(l);
        return p.build("spinner", MIN_MEMORY);
    }

    /** Exits immediately with {@code code}. */
    public static FreestandingGuest exitWith(int code) {
        Program p = new Program();
        p.exit(code);
        return p.build("exit(" + code + ")", MIN_MEMORY);
    }

    /** A program with the shared UART routines assembled after a jump to its main code. */
    private static final class Program {
        final X86Assembler a = new X86Assembler(LOAD_ADDRESS);
        final Label main = a.label();
        final Label putc = a.label();
        final Label getc = a.label();
        final Label puts = a.label();
        final Label printHex = a.label();
        final Label printDec = a.label();

        Program() {
            a.jmp(main);
            // putc: al -> COM1 once the transmitter holds no byte (LSR.THRE).
            a.bind(putc);
            a.push(RDX);
            a.push(RAX);
            a.mov(RDX, COM1 + 5);
            Label txWait = a.label();
            a.bind(txWait);
            a.inAlDx();
            a.testAl(0x20);
            a.jcc(Cond.E, txWait);
            a.pop(RAX);
            a.mov(RDX, COM1);
            a.outDxAl();
            a.pop(RDX);
            a.ret();
            // getc: rax = next byte from COM1, waiting for LSR.DR. Each poll is a VM exit, so
            // the guest counts down a little between polls instead of exiting back to back (no
            // PAUSE: hypervisors may intercept it, which is an exit too).
            a.bind(getc);
            a.push(RDX);
            a.push(RCX);
            a.mov(RDX, COM1 + 5);
            Label rxWait = a.label();
            Label backoff = a.label();
            a.bind(rxWait);
            a.mov(RCX, POLL_BACKOFF_SPINS);
            a.bind(backoff);
            a.dec(RCX);
            a.jcc(Cond.NE, backoff);
            a.inAlDx();
            a.testAl(0x01);
            a.jcc(Cond.E, rxWait);
            a.mov(RDX, COM1);
            a.inAlDx();
            a.and(RAX, 0xff);
            a.pop(RCX);
            a.pop(RDX);
            a.ret();
            // puts: prints the NUL-terminated string at rsi.
            a.bind(puts);
            a.push(RAX);
            a.push(RSI);
            Label next = a.label();
            Label end = a.label();
            a.bind(next);
            a.loadByte(RAX, RSI, 0);
            a.test(RAX, RAX);
            a.jcc(Cond.E, end);
            a.call(putc);
            a.inc(RSI);
            a.jmp(next);
            a.bind(end);
            a.pop(RSI);
            a.pop(RAX);
            a.ret();
            // printHex: rax as 16 lowercase hex digits.
            a.bind(printHex);
            a.push(RAX);
            a.push(RBX);
            a.push(RCX);
            a.mov(RBX, RAX);
            a.mov(RCX, 16);
            Label digit = a.label();
            Label decimal = a.label();
            a.bind(digit);
            a.rol(RBX, 4);
            a.mov(RAX, RBX);
            a.and(RAX, 0xf);
            a.cmp(RAX, 10);
            a.jcc(Cond.B, decimal);
            a.add(RAX, 'a' - 10 - '0');
            a.bind(decimal);
            a.add(RAX, '0');
            a.call(putc);
            a.dec(RCX);
            a.jcc(Cond.NE, digit);
            a.pop(RCX);
            a.pop(RBX);
            a.pop(RAX);
            a.ret();
            // printDec: rax in decimal, digits pushed on the stack then printed.
            a.bind(printDec);
            a.push(RAX);
            a.push(RBX);
            a.push(RCX);
            a.push(RDX);
            a.mov(RCX, 0);
            a.mov(RBX, 10);
            Label divide = a.label();
            Label emit = a.label();
            a.bind(divide);
            a.mov(RDX, 0);
            a.div(RBX);
            a.add(RDX, '0');
            a.push(RDX);
            a.inc(RCX);
            a.test(RAX, RAX);
            a.jcc(Cond.NE, divide);
            a.bind(emit);
            a.pop(RAX);
            a.call(putc);
            a.dec(RCX);
            a.jcc(Cond.NE, emit);
            a.pop(RDX);
            a.pop(RCX);
            a.pop(RBX);
            a.pop(RAX);
            a.ret();
            a.bind(main);
        }

        /** Reads and rewrites 8 bytes at {@code address}, printing label text and the value. */
        void probeLoad(long address, Label text) {
            a.mov(RDI, address);
            a.load(R8, RDI, 0);
            a.store(RDI, 0, R8);
            a.mov(RSI, text);
            a.call(puts);
            a.mov(RAX, R8);
            a.call(printHex);
            a.mov(RAX, '\n');
            a.call(putc);
        }

        /**
         * Writes {@code code} to the exit port, then spins should the VMM resume it: the guest runs
         * at CPL 3, where {@code hlt} would fault.
         */
        void exit(int code) {
            a.mov(RAX, code & 0xff);
            a.outImmAl(EXIT_PORT);
            Label h = a.label();
            a.bind(h);
            a.jmp(h);
        }

        FreestandingGuest build(String name, long requiredMemory) {
            byte[] code = a.assemble();
            long need = Math.max(requiredMemory, LOAD_ADDRESS + code.length);
            return new FreestandingGuest(name, code, LOAD_ADDRESS, LOAD_ADDRESS, need);
        }
    }
}
