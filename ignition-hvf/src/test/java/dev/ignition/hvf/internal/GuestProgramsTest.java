package dev.ignition.hvf.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
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

    /**
     * Runs UART_AND_DIRTY on QEMU's TCG arm64 CPU ({@code -M virt}: PL011 at the same address, PSCI
     * over HVC): a check of the program itself, so that an hvf test failure on a Mac points at the
     * backend, not at the guest.
     */
    @Test
    void uartProgramPrintsAndPowersOffOnQemu() throws Exception {
        Path qemu = Path.of("/usr/bin/qemu-system-aarch64");
        assumeTrue(Files.isExecutable(qemu), "qemu-system-aarch64 not installed: apt-get install qemu-system-arm");
        Path dir = Files.createTempDirectory("guest-qemu");
        ByteBuffer code = ByteBuffer.allocate(4 * GuestPrograms.UART_AND_DIRTY.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int w : GuestPrograms.UART_AND_DIRTY) {
            code.putInt(w);
        }
        Files.write(dir.resolve("g.bin"), code.array());
        long at = 0x4040_0000L; // above QEMU's own device-tree ROM at the start of RAM
        Process p = new ProcessBuilder(qemu.toString(), "-M", "virt,gic-version=3", "-cpu", "max", "-m", "64M",
                "-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio",
                "-device", "loader,file=" + dir.resolve("g.bin") + ",addr=0x" + Long.toHexString(at) + ",force-raw=on",
                "-device", "loader,addr=0x" + Long.toHexString(at) + ",cpu-num=0").redirectErrorStream(true).start();
        boolean exited = p.waitFor(120, TimeUnit.SECONDS);
        if (!exited) {
            p.destroyForcibly();
        }
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(exited).as("QEMU powered off (PSCI SYSTEM_OFF); output: " + out).isTrue();
        assertThat(out).isEqualTo("ok\n");
    }

    private static void exec(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
    }
}
