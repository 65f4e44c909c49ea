package dev.ignition.hvf.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
        assertThat(words).containsExactly(java.util.Arrays.stream(SimdRestore.code()).boxed().toArray(Integer[]::new));
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
    }
}
