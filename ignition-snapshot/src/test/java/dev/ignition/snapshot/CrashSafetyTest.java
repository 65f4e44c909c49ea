package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ignition.memory.GuestMemory;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A writer process killed with SIGKILL at random points leaves a store that opens and verifies,
 * with every layer it had published intact (restoring to the memory it had when it wrote it).
 * The store is on the real disk so that the fsync/rename protocol runs as in production.
 */
class CrashSafetyTest {
    static final int ROUNDS = 4;

    @TempDir Path dir;

    @Test
    void killedWritersNeverDamagePublishedSnapshots() throws Exception {
        assumeTrue(ProcessHandle.current().info().command().isPresent(), "cannot find the running java executable");
        String java = ProcessHandle.current().info().command().orElseThrow();
        Random rnd = new Random();
        long seed = rnd.nextLong();
        List<String> rounds = new ArrayList<>();
        int inFlight = 0;
        for (int round = 0; round < ROUNDS; round++) {
            Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-XX:TieredStopAtLevel=1",
                    "-cp", System.getProperty("java.class.path"), CrashWriter.class.getName(), dir.toString(),
                    "r" + round, Long.toString(seed + round))
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.US_ASCII));
            assertThat(out.readLine()).as("child started (seed %d)", seed).isEqualTo("ready");
            int target = 1 + rnd.nextInt(14);
            int published = 0;
            while (published < target && out.readLine() != null) {
                published++;
            }
            Thread.sleep(rnd.nextInt(25));
            // SIGKILL through the handle: Process.destroyForcibly would also close our end of its pipes.
            p.toHandle().destroyForcibly();
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            String line;
            while ((line = out.readLine()) != null) {
                if (line.startsWith("published ")) {
                    published++;
                }
            }
            long leftovers;
            try (var tmp = Files.list(dir.resolve("tmp"))) {
                leftovers = tmp.count();
            }
            inFlight += leftovers > 0 ? 1 : 0;
            rounds.add("round " + round + ": " + published + " published, exit " + p.exitValue() + ", " + leftovers
                    + " in-flight write(s) in tmp/");

            try (SnapshotStore store = SnapshotStore.open(dir)) {
                try (var tmp = Files.list(dir.resolve("tmp"))) {
                    assertThat(tmp.toList()).as("crash leftovers removed on open").isEmpty();
                }
                assertThat(store.verify().problems()).as("verify after %s (seed %d)", rounds, seed).isEmpty();
                checkRound(store, round, seed + round, published);
            }
        }
        System.out.println("crash rounds (seed " + seed + "): " + rounds);
        assertThat(rounds).hasSize(ROUNDS);
        // Kills land at random moments; report (not assert) how many interrupted a write in progress.
        System.out.println("rounds killed inside a write: " + inFlight + " of " + ROUNDS);
    }

    /** Replays the child's seeded changes and checks every layer it published, plus the list of names. */
    private static void checkRound(SnapshotStore store, int round, long seed, int published) {
        Random rnd = new Random(seed);
        try (GuestMemory model = CrashWriter.memory()) {
            for (int i = 0; i < published; i++) {
                CrashWriter.mutate(model, rnd);
                String name = "r" + round + "-" + i;
                try (RestoredSnapshot r = store.restore(name)) {
                    assertThat(TestMemory.bytes(r.memory())).as(name).isEqualTo(TestMemory.bytes(model));
                    assertThat(new String(r.state().get("index"), StandardCharsets.US_ASCII)).isEqualTo("" + i);
                    assertThat(r.chain()).hasSize(i % 6 + 1);
                }
            }
        }
        // At most one more name can exist: published to disk, killed before printing.
        long names = store.list().stream().filter(s -> s.name().startsWith("r" + round + "-")).count();
        assertThat(names).isBetween((long) published, (long) published + 1);
    }
}
