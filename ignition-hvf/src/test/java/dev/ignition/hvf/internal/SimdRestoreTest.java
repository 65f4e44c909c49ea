package dev.ignition.hvf.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class SimdRestoreTest {
    @Test
    void encodingsMatchTheArchitecture() {
        // Reference words from the Arm ARM encoding tables (and binutils output).
        assertThat(SimdRestore.ldpQ(0, 1, 0, 0)).isEqualTo(0xad400400);
        assertThat(SimdRestore.ldpQ(30, 31, 0, 480)).isEqualTo(0xad4f7c1e);
        assertThat(SimdRestore.hvc(0)).isEqualTo(0xd4000002);
        assertThat(SimdRestore.hvc(0x1f0)).isEqualTo(0xd4003e02);
        int[] code = SimdRestore.code();
        assertThat(code).hasSize(17);
        assertThat(code[16]).isEqualTo(SimdRestore.hvc(SimdRestore.HVC_MARKER));
    }

    @Test
    void stubMatchesTheCrossAssembler() throws Exception {
        Path as = Path.of("/usr/bin/aarch64-linux-gnu-as");
        Path objcopy = Path.of("/usr/bin/aarch64-linux-gnu-objcopy");
        assumeTrue(Files.isExecutable(as) && Files.isExecutable(objcopy),
                "binutils-aarch64-linux-gnu not installed (apt-get install binutils-aarch64-linux-gnu)");
        Path dir = Files.createTempDirectory("simd-stub");
        StringBuilder src = new StringBuilder();
        for (int i = 0; i < 16; i++) {
            src.append("ldp q").append(2 * i).append(", q").append(2 * i + 1).append(", [x0, #").append(32 * i).append("]\n");
        }
        src.append("hvc #0x1f0\n");
        Files.writeString(dir.resolve("s.s"), src);
        run(as.toString(), "-o", dir.resolve("s.o").toString(), dir.resolve("s.s").toString());
        run(objcopy.toString(), "-O", "binary", "-j", ".text", dir.resolve("s.o").toString(), dir.resolve("s.bin").toString());
        ByteBuffer bin = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("s.bin"))).order(ByteOrder.LITTLE_ENDIAN);
        List<Integer> words = new ArrayList<>();
        while (bin.remaining() >= 4) {
            words.add(bin.getInt());
        }
        assertThat(words).containsExactly(Arrays.stream(SimdRestore.code()).boxed().toArray(Integer[]::new));
    }

    /**
     * Runs the real stub words on QEMU's arm64 CPU in the state {@link SimdRestore} sets up (EL1,
     * MMU off, CPACR_EL1.FPEN = 0b11, x0 = data), then stores Q0..Q31 back with STP and prints the
     * 512 bytes on the PL011: they must come back exactly, register by register.
     */
    @Test
    void stubLoadsEveryRegisterOnAnArm64CpuWithTheMmuOff() throws Exception {
        Path as = Path.of("/usr/bin/aarch64-linux-gnu-as");
        Path objcopy = Path.of("/usr/bin/aarch64-linux-gnu-objcopy");
        Path qemu = Path.of("/usr/bin/qemu-system-aarch64");
        assumeTrue(Files.isExecutable(as) && Files.isExecutable(objcopy) && Files.isExecutable(qemu),
                "needs binutils-aarch64-linux-gnu and qemu-system-arm (apt-get install both)");
        StringBuilder src = new StringBuilder("""
                    movz x1, #0x30, lsl #16
                    msr  cpacr_el1, x1
                    isb
                    adr  x0, data
                """);
        int[] code = SimdRestore.code();
        for (int i = 0; i < 16; i++) { // the stub without its HVC
            src.append(String.format("    .word 0x%08x%n", code[i]));
        }
        for (int i = 0; i < 16; i++) {
            src.append("    stp q").append(2 * i).append(", q").append(2 * i + 1).append(", [x0, #")
                    .append(512 + 32 * i).append("]\n");
        }
        src.append("""
                    movz x2, #0x0900, lsl #16
                    add  x3, x0, #512
                    mov  x4, #512
                1:  ldrb w5, [x3], #1
                    strb w5, [x2]
                    subs x4, x4, #1
                    b.ne 1b
                    movz x0, #0x0008
                    movk x0, #0x8400, lsl #16
                    hvc  #0
                    .balign 64
                data:
                """);
        byte[] data = new byte[512];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 37 + 11);
        }
        for (byte b : data) {
            src.append(String.format("    .byte 0x%02x%n", b & 0xff));
        }
        src.append("    .space 512\n");
        Path dir = Files.createTempDirectory("simd-qemu");
        Files.writeString(dir.resolve("t.s"), src);
        run(as.toString(), "-o", dir.resolve("t.o").toString(), dir.resolve("t.s").toString());
        run(objcopy.toString(), "-O", "binary", "-j", ".text", dir.resolve("t.o").toString(), dir.resolve("t.bin").toString());
        long at = 0x4040_0000L;
        Process p = new ProcessBuilder(qemu.toString(), "-M", "virt,gic-version=3", "-cpu", "max", "-m", "64M",
                "-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio",
                "-device", "loader,file=" + dir.resolve("t.bin") + ",addr=0x" + Long.toHexString(at) + ",force-raw=on",
                "-device", "loader,addr=0x" + Long.toHexString(at) + ",cpu-num=0").redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(out).as(new String(out)).containsExactly(data);
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
    }
}
