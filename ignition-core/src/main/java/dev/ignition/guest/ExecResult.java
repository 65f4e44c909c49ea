package dev.ignition.guest;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * What a command run by {@link ShellSession#exec} produced.
 *
 * @param exitStatus the shell's {@code $?}: the exit code, or 128 + signal number
 * @param stdout standard output, byte for byte
 * @param stderr standard error, byte for byte
 */
public record ExecResult(int exitStatus, byte[] stdout, byte[] stderr) {
    public ExecResult {
        stdout = stdout.clone();
        stderr = stderr.clone();
    }

    @Override
    public byte[] stdout() {
        return stdout.clone();
    }

    @Override
    public byte[] stderr() {
        return stderr.clone();
    }

    /** Standard output decoded as UTF-8. */
    public String stdoutText() {
        return new String(stdout, StandardCharsets.UTF_8);
    }

    /** Standard error decoded as UTF-8. */
    public String stderrText() {
        return new String(stderr, StandardCharsets.UTF_8);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ExecResult r && r.exitStatus == exitStatus && Arrays.equals(r.stdout, stdout)
                && Arrays.equals(r.stderr, stderr);
    }

    @Override
    public int hashCode() {
        return Objects.hash(exitStatus, Arrays.hashCode(stdout), Arrays.hashCode(stderr));
    }

    @Override
    public String toString() {
        return "ExecResult[exit " + exitStatus + ", stdout " + stdout.length + " bytes, stderr " + stderr.length
                + " bytes]";
    }
}
