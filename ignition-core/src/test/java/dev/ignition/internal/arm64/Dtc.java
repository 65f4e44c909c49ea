package dev.ignition.internal.arm64;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Decompiles a DTB with the system's {@code dtc} (Debian package device-tree-compiler). */
final class Dtc {
    record Result(String dts, String warnings) {}

    private Dtc() {}

    static Result decompile(byte[] dtb) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/dtc")),
                "dtc not installed: apt-get install device-tree-compiler");
        Path f = Files.createTempFile("ignition", ".dtb");
        Path err = Files.createTempFile("ignition", ".err");
        try {
            Files.write(f, dtb);
            Process p = new ProcessBuilder("/usr/bin/dtc", "-I", "dtb", "-O", "dts", f.toString())
                    .redirectError(err.toFile()).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            String warnings = Files.readString(err);
            assertThat(p.exitValue()).as(warnings).isZero();
            return new Result(out, warnings);
        } finally {
            Files.deleteIfExists(f);
            Files.deleteIfExists(err);
        }
    }
}
