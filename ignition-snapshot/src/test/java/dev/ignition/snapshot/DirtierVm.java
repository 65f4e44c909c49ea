package dev.ignition.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.device.Device;
import dev.ignition.guest.TestGuests;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.function.UnaryOperator;

/**
 * A small VM running {@link TestGuests#dirtier}, and exact checks of what its snapshots restore:
 * every byte of memory on the host side, and the data's checksum computed by the guest itself.
 */
final class DirtierVm {
    static final Duration T = Duration.ofSeconds(120);
    static final int PAGES = 8;
    static final int MIB = 4;

    private DirtierVm() {}

    /** A started dirtier VM with dirty tracking, ready for commands. */
    static VirtualMachine boot(Device... devices) {
        VirtualMachine.Builder b = VirtualMachine.builder().memoryMiB(MIB).trackDirtyPages(true)
                .guest(TestGuests.dirtier(PAGES));
        for (Device d : devices) {
            b.device(d);
        }
        VirtualMachine vm = b.build();
        try {
            vm.start();
            vm.console().waitFor(TestGuests.DIRTIER_READY, T);
            return vm;
        } catch (RuntimeException e) {
            vm.close();
            throw e;
        }
    }

    static String sumLine(int generation) {
        return "sum=" + String.format("%016x", TestGuests.dirtierChecksum(PAGES, generation)) + "\n";
    }

    /** Has the guest fill its pages with generation {@code g} and checks the checksum it prints. */
    static void write(VirtualMachine vm, char g) {
        vm.console().write(String.valueOf(g));
        assertThat(vm.console().waitFor("\n", T)).as("guest's checksum after writing %s", g).isEqualTo(sumLine(g));
    }

    /** Every byte of {@code m}, region by region. */
    static byte[][] copy(GuestMemory m) {
        byte[][] out = new byte[m.regions().size()][];
        for (int r = 0; r < out.length; r++) {
            out[r] = m.regions().get(r).segment().toArray(ValueLayout.JAVA_BYTE);
        }
        return out;
    }

    static void assertSameBytes(GuestMemory m, byte[][] expected, String what) {
        assertThat(m.regions()).hasSize(expected.length);
        for (int r = 0; r < expected.length; r++) {
            MemoryRegion region = m.regions().get(r);
            long at = MemorySegment.mismatch(region.segment(), 0, region.segment().byteSize(),
                    MemorySegment.ofArray(expected[r]), 0, expected[r].length);
            if (at >= 0) {
                long page = (region.guestAddress() + at) / m.pageSize();
                throw new AssertionError(what + ": memory differs first at guest address 0x"
                        + Long.toHexString(region.guestAddress() + at) + " (page " + page + ")");
            }
        }
    }

    /**
     * Snapshots {@code vm} with the VM paused around it, so that the returned copy of its memory is
     * exactly what the snapshot holds. The VM runs again afterwards, also when the snapshot throws.
     */
    static byte[][] snapshot(VirtualMachine vm, SnapshotStore store, String name) {
        vm.pause();
        try {
            VmSnapshots.snapshot(vm, store, name);
            return copy(vm.memory());
        } finally {
            vm.resume();
        }
    }

    /**
     * Restores {@code name} and checks it holds exactly {@code expected} (host side) and that the
     * guest, run on, computes the checksum of generation {@code g}.
     */
    static void assertRestores(SnapshotStore store, String name, byte[][] expected, char g) {
        assertRestores(store, name, expected, g, b -> b);
    }

    static void assertRestores(SnapshotStore store, String name, byte[][] expected, char g,
            UnaryOperator<VirtualMachine.Builder> configure) {
        try (VirtualMachine vm = VmSnapshots.restore(store, name, configure)) {
            assertSameBytes(vm.memory(), expected, "restored '" + name + "'");
            vm.start();
            vm.console().write("?");
            assertThat(vm.console().waitFor("\n", T)).as("checksum inside the guest restored from '%s'", name)
                    .isEqualTo(sumLine(g));
            vm.console().write("q");
            assertThat(vm.awaitExit(T)).contains(new VmExit.GuestExit(0));
        }
    }
}
