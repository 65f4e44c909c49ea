package dev.ignition.internal.vm;

import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.HypervisorVm;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * The pages of a VM written since its last published capture: the hypervisor's log, the host's
 * bitmap and the bits of captures given back. Bitmaps hold bit j of word i for page 64i+j.
 */
public final class DirtyLog {
    private final GuestMemory memory;
    private final HypervisorVm hvVm;
    private final boolean tracks;
    /**
     * Per region, dirty bits drained by captures that were never published (null: none). The
     * next capture returns them too, so a failed snapshot never loses a page from later diffs.
     * Also the monitor for draining.
     */
    private final long[][] pending;

    /** @param tracks whether the hypervisor logs the guest's writes (the VM was built with dirty tracking) */
    public DirtyLog(GuestMemory memory, HypervisorVm hvVm, boolean tracks) {
        this.memory = memory;
        this.hvVm = hvVm;
        this.tracks = tracks;
        this.pending = new long[memory.regions().size()][];
    }

    public boolean tracks() {
        return tracks;
    }

    /** See {@link MachineInternals#resetDirtyTracking()}. */
    public void reset() {
        synchronized (pending) {
            for (int r = 0; r < memory.regions().size(); r++) {
                if (tracks) {
                    hvVm.fetchDirtyPages(r);
                }
                memory.drainHostDirty(r);
                pending[r] = null;
            }
        }
    }

    /**
     * Gives back the bitmaps of a capture that was not published: they are OR'ed into what the
     * next {@link #drain()} returns.
     */
    void giveBack(long[][] dirty) {
        if (dirty.length != pending.length) {
            throw new IllegalArgumentException("dirty bitmaps for " + dirty.length + " regions; the VM has "
                    + pending.length);
        }
        synchronized (pending) {
            for (int r = 0; r < dirty.length; r++) {
                pending[r] = or(pending[r], dirty[r]);
            }
        }
    }

    /**
     * The pages written since the last published capture, per region, each bitmap covering
     * every page of its region; tracking restarts from now. Draining is destructive, so a failure
     * part-way gives back what was already drained.
     */
    long[][] drain() {
        int regions = memory.regions().size();
        long[][] dirty = new long[regions][];
        synchronized (pending) {
            try {
                for (int r = 0; r < regions; r++) {
                    long[] guest = hvVm.fetchDirtyPages(r);
                    dirty[r] = guest;
                    dirty[r] = or(or(guest, memory.drainHostDirty(r)), pending[r]);
                    pending[r] = null;
                }
            } catch (RuntimeException e) {
                for (int r = 0; r < regions; r++) {
                    pending[r] = or(pending[r], dirty[r]);
                }
                throw e;
            }
        }
        for (int r = 0; r < regions; r++) {
            // A region whose bitmap is shorter than its pages would hide dirty pages past its end.
            long words = (memory.pagesIn(memory.regions().get(r)) + 63) / 64;
            if (dirty[r].length < words) {
                dirty[r] = Arrays.copyOf(dirty[r], (int) words);
            }
        }
        return dirty;
    }

    /** {@code a | b} into {@code a} when it is long enough, else into a copy of {@code b}. */
    private static long @Nullable [] or(long @Nullable [] a, long @Nullable [] b) {
        if (a == null || b == null) {
            return a == null ? (b == null ? null : b.clone()) : a;
        }
        long[] out = a.length >= b.length ? a : Arrays.copyOf(a, b.length);
        for (int w = 0; w < b.length; w++) {
            out[w] |= b[w];
        }
        return out;
    }
}
