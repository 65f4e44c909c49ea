package dev.ignition.hvf.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The hvf tests' guest programs are exactly what binutils assembles from their source. */
class GuestProgramsTest {
    @ParameterizedTest
    @ValueSource(strings = {"UART_AND_DIRTY", "COUNTER"})
    void wordsMatchTheCrossAssembler(String name) throws Exception {
        Path as = Path.of("/usr/bin/aarch64-linux-gnu-as");
        Path objcopy = Path.of("/usr/bin/aarch64-linux-gnu-objcopy");
        assumeTrue(Files.isExecutable(as) && Files.isExecutable(objcopy),
                "binutils-aarch64-linux-gnu not installed (apt-get install binutils-aarch64-linux-gnu)");
        String src = (String) GuestPrograms.class.getDeclaredField(name + "_SRC").get(null);
        int[] words = (int[]) GuestPrograms.class.getDeclaredField(name).get(null);
        Path dir = Files.createTempDirectory("guest");
        Files.writeString(dir.resolve("g.s"), src);
        exec(as.toString(), "-o", dir.resolve("g.o").toString(), dir.resolve("g.s").toString());
        exec(objcopy.toString(), "-O", "binary", "-j", ".text", dir.resolve("g.o").toString(), dir.resolve("g.bin").toString());
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("g.bin"))).order(ByteOrder.LITTLE_ENDIAN);
        int[] got = new int[b.remaining() / 4];
        b.asIntBuffer().get(got);
        assertThat(got).as(Arrays.toString(got)).containsExactly(words);
    }

    private static void exec(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
    }
}
