package dev.ignition.internal.vm;

import dev.ignition.internal.arm64.Arm64Layout;
import dev.ignition.internal.posix.Libc;
import dev.ignition.internal.x86.X86Layout;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** Allocates guest RAM as anonymous private mappings: lazily zero-filled, never touched up front. */
public final class GuestRam {
    private GuestRam() {}

    /** One region at {@link Arm64Layout#RAM_BASE}, as the arm64 platform lays it out. */
    public static GuestMemory allocateArm64(long bytes) {
        MemorySegment m = Libc.mmapAnonymous(bytes);
        return new GuestMemory(List.of(new MemoryRegion(Arm64Layout.RAM_BASE, m)),
                Libc.pageSize(), () -> Libc.munmap(m));
    }

    /** RAM laid out by {@link X86Layout#ramRanges}. */
    public static GuestMemory allocateX86(long bytes) {
        List<MemoryRegion> regions = new ArrayList<>();
        try {
            for (X86Layout.Range r : X86Layout.ramRanges(bytes)) {
                regions.add(new MemoryRegion(r.start(), Libc.mmapAnonymous(r.size())));
            }
        } catch (RuntimeException e) {
            regions.forEach(r -> Libc.munmap(r.segment()));
            throw e;
        }
        List<MemorySegment> maps = regions.stream().map(MemoryRegion::segment).toList();
        return new GuestMemory(regions, Libc.pageSize(), () -> maps.forEach(Libc::munmap));
    }
}
