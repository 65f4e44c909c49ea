package dev.ignition.internal.asm;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A minimal x86-64 assembler for the freestanding test guests: the handful of 64-bit integer,
 * control-flow and port-I/O instructions they use, with labels. Code is position-dependent: it
 * is assembled for a fixed load address so labels can be used as absolute addresses.
 */
public final class X86Assembler {
    /** General-purpose registers in encoding order. */
    public enum Reg { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15;
        int low() {
            return ordinal() & 7;
        }

        boolean ext() {
            return ordinal() >= 8;
        }
    }

    /** Condition codes for {@link #jcc}. */
    public enum Cond {
        O(0), NO(1), B(2), AE(3), E(4), NE(5), BE(6), A(7), S(8), NS(9), L(0xc), GE(0xd), LE(0xe), G(0xf);
        final int code;

        Cond(int code) {
            this.code = code;
        }
    }

    /** A position in the code, bound once with {@link #bind}. */
    public static final class Label {
        private int offset = -1;
    }

    private record Fixup(int at, Label label, boolean absolute) {}

    private final long base;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final List<Fixup> fixups = new ArrayList<>();

    /** @param base the guest address the code will be loaded at */
    public X86Assembler(long base) {
        this.base = base;
    }

    public Label label() {
        return new Label();
    }

    public void bind(Label l) {
        if (l.offset >= 0) {
            throw new IllegalStateException("label bound twice");
        }
        l.offset = out.size();
    }

    /** The current address. */
    public long here() {
        return base + out.size();
    }

    // ---- data ----

    public void db(byte... bytes) {
        out.writeBytes(bytes);
    }

    public void ascii(String s) {
        out.writeBytes(s.getBytes(StandardCharsets.US_ASCII));
    }

    /** Pads with zeros to a multiple of {@code alignment}. */
    public void align(int alignment) {
        while (out.size() % alignment != 0) {
            out.write(0);
        }
    }

    // ---- moves ----

    /** {@code mov reg, imm} choosing the shortest encoding (zero-extending 32-bit or full 64-bit). */
    public void mov(Reg r, long imm) {
        if (imm >= 0 && imm <= 0xffff_ffffL) {
            if (r.ext()) {
                emit(0x41);
            }
            emit(0xb8 + r.low());
            imm32((int) imm);
        } else {
            rex(true, false, false, r.ext());
            emit(0xb8 + r.low());
            imm64(imm);
        }
    }

    /** {@code mov reg, imm64} with a label's absolute address. */
    public void mov(Reg r, Label l) {
        rex(true, false, false, r.ext());
        emit(0xb8 + r.low());
        fixups.add(new Fixup(out.size(), l, true));
        imm64(0);
    }

    /** {@code mov dst, src} (64-bit). */
    public void mov(Reg dst, Reg src) {
        rr(0x89, src, dst);
    }

    /** {@code mov [base + disp], src} (64-bit). */
    public void store(Reg baseReg, int disp, Reg src) {
        rex(true, src.ext(), false, baseReg.ext());
        emit(0x89);
        mem(src.low(), baseReg, disp);
    }

    /** {@code mov dst, [base + disp]} (64-bit). */
    public void load(Reg dst, Reg baseReg, int disp) {
        rex(true, dst.ext(), false, baseReg.ext());
        emit(0x8b);
        mem(dst.low(), baseReg, disp);
    }

    /** {@code movzx dst, byte [base + disp]}. */
    public void loadByte(Reg dst, Reg baseReg, int disp) {
        rex(true, dst.ext(), false, baseReg.ext());
        emit(0x0f);
        emit(0xb6);
        mem(dst.low(), baseReg, disp);
    }

    // ---- arithmetic ----

    public void add(Reg dst, Reg src) {
        rr(0x01, src, dst);
    }

    public void sub(Reg dst, Reg src) {
        rr(0x29, src, dst);
    }

    public void xor(Reg dst, Reg src) {
        rr(0x31, src, dst);
    }

    public void and(Reg dst, Reg src) {
        rr(0x21, src, dst);
    }

    public void cmp(Reg a, Reg b) {
        rr(0x39, b, a);
    }

    public void test(Reg a, Reg b) {
        rr(0x85, b, a);
    }

    public void add(Reg dst, int imm) {
        ri(0, dst, imm);
    }

    public void sub(Reg dst, int imm) {
        ri(5, dst, imm);
    }

    public void and(Reg dst, int imm) {
        ri(4, dst, imm);
    }

    public void cmp(Reg dst, int imm) {
        ri(7, dst, imm);
    }

    public void inc(Reg r) {
        unary(0xff, 0, r);
    }

    public void dec(Reg r) {
        unary(0xff, 1, r);
    }

    /** Unsigned {@code rdx:rax / r}: quotient in rax, remainder in rdx. */
    public void div(Reg r) {
        unary(0xf7, 6, r);
    }

    /** {@code dst = dst * src} (low 64 bits). */
    public void imul(Reg dst, Reg src) {
        rex(true, dst.ext(), false, src.ext());
        emit(0x0f);
        emit(0xaf);
        emit(0xc0 | dst.low() << 3 | src.low());
    }

    public void shl(Reg r, int count) {
        shift(4, r, count);
    }

    public void shr(Reg r, int count) {
        shift(5, r, count);
    }

    public void rol(Reg r, int count) {
        shift(0, r, count);
    }

    // ---- control flow ----

    public void jmp(Label l) {
        emit(0xe9);
        rel32(l);
    }

    public void jcc(Cond c, Label l) {
        emit(0x0f);
        emit(0x80 + c.code);
        rel32(l);
    }

    public void call(Label l) {
        emit(0xe8);
        rel32(l);
    }

    public void ret() {
        emit(0xc3);
    }

    public void push(Reg r) {
        if (r.ext()) {
            emit(0x41);
        }
        emit(0x50 + r.low());
    }

    public void pop(Reg r) {
        if (r.ext()) {
            emit(0x41);
        }
        emit(0x58 + r.low());
    }

    // ---- system ----

    /** {@code out dx, al}. */
    public void outDxAl() {
        emit(0xee);
    }

    /** {@code in al, dx}. */
    public void inAlDx() {
        emit(0xec);
    }

    /** {@code out dx, eax}. */
    public void outDxEax() {
        emit(0xef);
    }

    /** {@code in eax, dx}. */
    public void inEaxDx() {
        emit(0xed);
    }

    /** {@code out imm8, al}. */
    public void outImmAl(int port) {
        emit(0xe6);
        emit(port & 0xff);
    }

    /** {@code test al, imm8}. */
    public void testAl(int imm) {
        emit(0xa8);
        emit(imm & 0xff);
    }

    public void hlt() {
        emit(0xf4);
    }

    public void cli() {
        emit(0xfa);
    }

    public void pause() {
        emit(0xf3);
        emit(0x90);
    }

    /** Resolves labels and returns the machine code. */
    public byte[] assemble() {
        byte[] code = out.toByteArray();
        for (Fixup f : fixups) {
            if (f.label.offset < 0) {
                throw new IllegalStateException("unbound label used at offset " + f.at);
            }
            if (f.absolute) {
                long v = base + f.label.offset;
                for (int i = 0; i < 8; i++) {
                    code[f.at + i] = (byte) (v >>> (8 * i));
                }
            } else {
                int v = f.label.offset - (f.at + 4);
                for (int i = 0; i < 4; i++) {
                    code[f.at + i] = (byte) (v >>> (8 * i));
                }
            }
        }
        return code;
    }

    // ---- encoding helpers ----

    private void emit(int b) {
        out.write(b);
    }

    private void imm32(int v) {
        for (int i = 0; i < 4; i++) {
            emit((v >>> (8 * i)) & 0xff);
        }
    }

    private void imm64(long v) {
        for (int i = 0; i < 8; i++) {
            emit((int) ((v >>> (8 * i)) & 0xff));
        }
    }

    private void rel32(Label l) {
        fixups.add(new Fixup(out.size(), l, false));
        imm32(0);
    }

    private void rex(boolean w, boolean r, boolean x, boolean b) {
        emit(0x40 | (w ? 8 : 0) | (r ? 4 : 0) | (x ? 2 : 0) | (b ? 1 : 0));
    }

    /** {@code op r/m64, reg} with both operands registers. */
    private void rr(int opcode, Reg reg, Reg rm) {
        rex(true, reg.ext(), false, rm.ext());
        emit(opcode);
        emit(0xc0 | reg.low() << 3 | rm.low());
    }

    private void ri(int ext, Reg r, int imm) {
        rex(true, false, false, r.ext());
        emit(0x81);
        emit(0xc0 | ext << 3 | r.low());
        imm32(imm);
    }

    private void unary(int opcode, int ext, Reg r) {
        rex(true, false, false, r.ext());
        emit(opcode);
        emit(0xc0 | ext << 3 | r.low());
    }

    private void shift(int ext, Reg r, int count) {
        rex(true, false, false, r.ext());
        emit(0xc1);
        emit(0xc0 | ext << 3 | r.low());
        emit(count & 0x3f);
    }

    /** ModRM (+SIB) for {@code [base + disp32]}. */
    private void mem(int reg, Reg baseReg, int disp) {
        emit(0x80 | reg << 3 | baseReg.low());
        if (baseReg.low() == 4) {
            emit(0x24); // SIB: no index, base = rsp/r12
        }
        imm32(disp);
    }
}
