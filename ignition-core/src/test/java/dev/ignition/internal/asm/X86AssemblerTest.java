package dev.ignition.internal.asm;

import static dev.ignition.internal.asm.X86Assembler.Reg.R12;
import static dev.ignition.internal.asm.X86Assembler.Reg.R8;
import static dev.ignition.internal.asm.X86Assembler.Reg.R9;
import static dev.ignition.internal.asm.X86Assembler.Reg.RAX;
import static dev.ignition.internal.asm.X86Assembler.Reg.RBX;
import static dev.ignition.internal.asm.X86Assembler.Reg.RCX;
import static dev.ignition.internal.asm.X86Assembler.Reg.RDI;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.HexFormat;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** Encodings checked against the Intel SDM (and objdump of the same instructions). */
class X86AssemblerTest {
    static String asm(Consumer<X86Assembler> body) {
        X86Assembler a = new X86Assembler(0x100000);
        body.accept(a);
        return HexFormat.of().formatHex(a.assemble());
    }

    @Test
    void moves() {
        assertThat(asm(a -> a.mov(RAX, RBX))).isEqualTo("4889d8");
        assertThat(asm(a -> a.mov(RAX, 1))).isEqualTo("b801000000");
        assertThat(asm(a -> a.mov(R9, 2))).isEqualTo("41b902000000");
        assertThat(asm(a -> a.mov(RAX, -1L))).isEqualTo("48b8ffffffffffffffff");
        assertThat(asm(a -> a.store(RDI, 0, RAX))).isEqualTo("48898700000000");
        assertThat(asm(a -> a.load(RCX, RDI, 8))).isEqualTo("488b8f08000000");
        assertThat(asm(a -> a.load(R8, R12, 0))).isEqualTo("4d8b842400000000");
        assertThat(asm(a -> a.loadByte(RAX, Reg6.RSI, 0))).isEqualTo("480fb68600000000");
    }

    /** Alias to keep the static imports short. */
    static final class Reg6 {
        static final X86Assembler.Reg RSI = X86Assembler.Reg.RSI;
    }

    @Test
    void arithmetic() {
        assertThat(asm(a -> a.imul(R9, RAX))).isEqualTo("4c0fafc8");
        assertThat(asm(a -> a.div(RBX))).isEqualTo("48f7f3");
        assertThat(asm(a -> a.rol(RBX, 4))).isEqualTo("48c1c304");
        assertThat(asm(a -> a.add(RDI, 8))).isEqualTo("4881c708000000");
        assertThat(asm(a -> a.cmp(RAX, 10))).isEqualTo("4881f80a000000");
        assertThat(asm(a -> a.xor(RAX, R9))).isEqualTo("4c31c8");
        assertThat(asm(a -> a.inc(RBX))).isEqualTo("48ffc3");
        assertThat(asm(a -> a.push(R8))).isEqualTo("4150");
        assertThat(asm(a -> a.pop(RAX))).isEqualTo("58");
    }

    @Test
    void jumpsResolveRelativeAndLabelsAbsolute() {
        assertThat(asm(a -> {
            X86Assembler.Label l = a.label();
            a.bind(l);
            a.jmp(l);
        })).isEqualTo("e9fbffffff");
        assertThat(asm(a -> {
            X86Assembler.Label l = a.label();
            a.jcc(X86Assembler.Cond.NE, l);
            a.bind(l);
        })).isEqualTo("0f8500000000");
        assertThat(asm(a -> {
            X86Assembler.Label l = a.label();
            a.mov(RAX, l);
            a.bind(l);
        })).isEqualTo("48b80a00100000000000");
    }

    @Test
    void portIo() {
        assertThat(asm(a -> {
            a.inAlDx();
            a.outDxAl();
            a.outImmAl(0xf4);
            a.testAl(0x20);
            a.hlt();
        })).isEqualTo("ecee" + "e6f4" + "a820" + "f4");
    }
}
