package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.memory.GuestMemory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * Random page writes across chains up to depth 16: every layer restores to exactly the bytes the
 * memory held when it was written; squashing preserves them; GC never removes a reachable layer.
 */
class ChainPropertiesTest {

    /** One scenario: a random layout, a chain of random writes, snapshots after each step. */
    private static final class Scenario implements AutoCloseable {
        final Path dir = TestMemory.tempDir("chainprop");
        final SnapshotStore store = SnapshotStore.open(dir);
        final GuestMemory mem;
        final Random rnd;
        final Map<String, byte[]> expected = new HashMap<>();
        final List<String> names = new ArrayList<>();

        Scenario(long seed, int pageSize) {
            rnd = new Random(seed);
            int regions = 1 + rnd.nextInt(3);
            long[] spec = new long[regions * 2];
            long addr = 0;
            for (int i = 0; i < regions; i++) {
                addr += (long) rnd.nextInt(4) * pageSize;
                long size = (1 + rnd.nextInt(24)) * (long) pageSize;
                spec[2 * i] = addr;
                spec[2 * i + 1] = size;
                addr += size;
            }
            mem = TestMemory.create(pageSize, spec);
        }

        /** Random writes: whole pages, partial writes, zeroing pages, and dirty-but-unchanged pages. */
        void scribble(int writes) {
            int pages = TestMemory.pages(mem);
            int ps = mem.pageSize();
            for (int i = 0; i < writes; i++) {
                int page = rnd.nextInt(pages);
                long a = TestMemory.addressOf(mem, page);
                switch (rnd.nextInt(4)) {
                    case 0 -> TestMemory.fillPage(mem, page, rnd);
                    case 1 -> {
                        byte[] b = new byte[1 + rnd.nextInt(64)];
                        rnd.nextBytes(b);
                        mem.write(a + rnd.nextInt(ps - b.length + 1), b);
                    }
                    case 2 -> mem.write(a, new byte[ps]);
                    default -> mem.markDirty(a, 1);
                }
            }
        }

        void snapshotChain(int depth) {
            scribble(rnd.nextInt(3 * TestMemory.pages(mem)));
            store.writeFull("n0", mem, Map.of("i", new byte[] {0}));
            DirtyPages.drainHost(mem);
            record("n0");
            for (int i = 1; i < depth; i++) {
                scribble(rnd.nextInt(12));
                String n = "n" + i;
                store.writeDiff(n, "n" + (i - 1), mem, DirtyPages.drainHost(mem), Map.of("i", new byte[] {(byte) i}));
                record(n);
            }
        }

        void record(String n) {
            expected.put(n, TestMemory.bytes(mem));
            names.add(n);
        }

        void assertRestores(String name, byte[] bytes) {
            try (RestoredSnapshot r = store.restore(name)) {
                assertThat(TestMemory.bytes(r.memory())).as(name).isEqualTo(bytes);
            }
        }

        @Override
        public void close() {
            mem.close();
            store.close();
            TestMemory.deleteTree(dir);
        }
    }

    @Property(tries = 30)
    void everyLayerOfARandomChainRestoresExactly(@ForAll long seed, @ForAll @IntRange(min = 1, max = 16) int depth,
            @ForAll boolean bigPages) {
        try (Scenario s = new Scenario(seed, bigPages ? 16384 : 4096)) {
            s.snapshotChain(depth);
            for (String n : s.names) {
                s.assertRestores(n, s.expected.get(n));
                assertThat(s.store.resolve(n)).hasSize(Integer.parseInt(n.substring(1)) + 1);
            }
            try (RestoredSnapshot r = s.store.restore(s.names.getLast())) {
                assertThat(r.state().get("i")).containsExactly((byte) (depth - 1));
            }
        }
    }

    @Property(tries = 15)
    void squashPreservesRestoredBytes(@ForAll long seed, @ForAll @IntRange(min = 2, max = 16) int depth) {
        try (Scenario s = new Scenario(seed, 4096)) {
            s.snapshotChain(depth);
            String leaf = s.names.getLast();
            byte[] want = s.expected.get(leaf);
            s.store.squash(leaf, "as-diff", SquashMode.DIFF);
            s.store.squash(leaf, "as-full", SquashMode.FULL);
            s.assertRestores("as-diff", want);
            s.assertRestores("as-full", want);
            assertThat(s.store.resolve("as-diff")).hasSize(2);
            assertThat(s.store.resolve("as-full")).hasSize(1);
            // A squash in place, then GC: every other name still restores its own bytes.
            String mid = s.names.get(s.rnd.nextInt(s.names.size()));
            s.store.squash(mid, mid, SquashMode.FULL);
            s.store.gc();
            for (String n : s.names) {
                s.assertRestores(n, s.expected.get(n));
            }
        }
    }

    @Property(tries = 15)
    void gcNeverDeletesAReachableLayer(@ForAll long seed, @ForAll @IntRange(min = 1, max = 12) int depth,
            @ForAll @IntRange(min = 0, max = 6) int deletions) throws Exception {
        try (Scenario s = new Scenario(seed, 4096)) {
            s.snapshotChain(depth);
            // A branch off a random layer, so the store is a tree, not a line.
            String fork = s.names.get(s.rnd.nextInt(s.names.size()));
            try (RestoredSnapshot r = s.store.restore(fork)) {
                TestMemory.fillPage(r.memory(), 0, s.rnd);
                s.store.writeDiff("branch", fork, r.memory(), DirtyPages.drainHost(r.memory()), Map.of());
                s.expected.put("branch", TestMemory.bytes(r.memory()));
            }
            List<String> live = new ArrayList<>(s.names);
            live.add("branch");
            for (int i = 0; i < deletions && !live.isEmpty(); i++) {
                String victim = live.get(s.rnd.nextInt(live.size()));
                try {
                    DeleteResult d = s.store.delete(victim, s.rnd.nextBoolean());
                    live.removeAll(d.namesRemoved());
                } catch (SnapshotConflictException e) {
                    assertThat(e.getMessage()).contains(victim);
                }
            }
            Set<LayerId> reachable = new HashSet<>();
            for (String n : live) {
                s.store.resolve(n).forEach(l -> reachable.add(l.id()));
            }
            s.store.gc();
            Set<String> onDisk = new HashSet<>();
            try (var ls = Files.list(s.dir.resolve("layers"))) {
                ls.forEach(p -> onDisk.add(p.getFileName().toString()));
            }
            assertThat(onDisk).containsExactlyInAnyOrderElementsOf(reachable.stream().map(LayerId::hex).toList());
            for (String n : live) {
                s.assertRestores(n, s.expected.get(n));
            }
            assertThat(s.store.verify().problems()).isEmpty();
        }
    }
}
