package dev.ignition.examples;

import dev.ignition.Availability;
import dev.ignition.Backends;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** What the examples share: the backend check, time formatting, temporary stores. */
final class Examples {
    /** Exit status of an example that cannot run here (no usable backend). */
    static final int UNAVAILABLE = 2;

    private Examples() {}

    /** True when a backend can run VMs here; otherwise says why on {@code out}. */
    static boolean backendAvailable(PrintStream out) {
        Availability a = Backends.availability();
        if (!a.available()) {
            out.println("Cannot run a VM here: " + a.reason());
        }
        return a.available();
    }

    static String ms(long nanos) {
        return String.format("%.2f ms", nanos / 1e6);
    }

    static Path tempDir(String prefix) {
        try {
            return Files.createTempDirectory(prefix);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + dir, e);
        }
    }
}
