package dev.ignition.snapshot;

import dev.ignition.memory.GuestMemory;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

/**
 * Child process for {@link CrashSafetyTest}: writes full and diff layers back to back and prints
 * {@code published <name>} after each write returns, until killed. Its memory changes follow a
 * seeded sequence ({@link #mutate}) that the test replays to know what each layer must hold, so
 * the loop is almost all store writes and a random kill usually lands inside one.
 */
public final class CrashWriter {
    private CrashWriter() {}

    static GuestMemory memory() {
        return TestMemory.create(4096, 0, 256L * 4096, 1L << 20, 256L * 4096);
    }

    /** The change made before layer {@code i}; deterministic in {@code rnd}. */
    static void mutate(GuestMemory mem, Random rnd) {
        int writes = 1 + rnd.nextInt(40);
        for (int w = 0; w < writes; w++) {
            TestMemory.fillPage(mem, rnd.nextInt(TestMemory.pages(mem)), rnd);
        }
    }

    static boolean isFull(int i) {
        return i % 6 == 0;
    }

    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        String round = args[1];
        Random rnd = new Random(Long.parseLong(args[2]));
        try (SnapshotStore store = SnapshotStore.open(dir); GuestMemory mem = memory()) {
            System.out.println("ready");
            System.out.flush();
            for (int i = 0; ; i++) {
                mutate(mem, rnd);
                String name = round + "-" + i;
                Map<String, byte[]> state = Map.of("index", Integer.toString(i).getBytes());
                if (isFull(i)) {
                    store.writeFull(name, mem, state);
                    DirtyPages.drainHost(mem);
                } else {
                    store.writeDiff(name, round + "-" + (i - 1), mem, DirtyPages.drainHost(mem), state);
                }
                System.out.println("published " + name);
                System.out.flush();
            }
        }
    }
}
