package dev.ignition.internal.x86.linux;

import dev.ignition.internal.x86.X86Layout;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/** Synthetic kernel images built to the boot protocol, guest memory for tests, and real-image lookup. */
final class Images {
    static final int PAYLOAD_SIZE = 8192;

    private Images() {}

    /** A minimal bzImage: boot sector + 1 setup sector, protocol 2.15, then an 8 KiB patterned payload. */
    static byte[] bzImage() {
        ByteBuffer b = ByteBuffer.allocate(1024 + PAYLOAD_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0x1f1, (byte) 1); // setup_sects
        b.putShort(0x1fe, (short) 0xaa55);
        b.put(0x200, (byte) 0xeb).put(0x201, (byte) 0x6a); // jmp over the header: it ends at 0x26c
        b.putInt(0x202, 0x53726448);
        b.putShort(0x206, (short) 0x020f);
        b.put(0x211, (byte) 0x01); // LOADED_HIGH
        b.putInt(0x214, 0x100000);
        b.putInt(0x22c, 0x7fffffff);
        b.putInt(0x230, 0x200000);
        b.put(0x234, (byte) 1);
        b.putShort(0x236, (short) 0x3); // XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G
        b.putInt(0x238, 2047);
        b.putLong(0x258, 0x1000000);
        b.putInt(0x260, 0x800000);
        for (int i = 0; i < PAYLOAD_SIZE; i++) {
            b.put(1024 + i, (byte) (i * 7 + 3));
        }
        return b.array();
    }

    /** An ELF64 vmlinux-like image: PT_LOAD at 16 MiB (with bss), a PT_NOTE, PT_LOAD at 17 MiB. */
    static byte[] elf() {
        ByteBuffer b = ByteBuffer.allocate(0x2000).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1});
        b.putShort(16, (short) 2); // ET_EXEC
        b.putShort(18, (short) 62);
        b.putInt(20, 1);
        b.putLong(24, 0x1000040); // e_entry, physical
        b.putLong(32, 64); // e_phoff
        b.putShort(52, (short) 64);
        b.putShort(54, (short) 56);
        b.putShort(56, (short) 3);
        phdr(b, 0, 1, 0x1000, 0xffffffff81000000L, 0x1000000, 0x400, 0x800);
        phdr(b, 1, 4, 0x1400, 0, 0, 0x10, 0x10);
        phdr(b, 2, 1, 0x1800, 0xffffffff81100000L, 0x1100000, 0x100, 0x100);
        for (int i = 0x1000; i < 0x1900; i++) {
            b.put(i, (byte) (i * 13));
        }
        return b.array();
    }

    static void phdr(ByteBuffer b, int index, int type, long offset, long vaddr, long paddr, long filesz, long memsz) {
        int at = 64 + 56 * index;
        b.putInt(at, type);
        b.putInt(at + 4, 5);
        b.putLong(at + 8, offset);
        b.putLong(at + 16, vaddr);
        b.putLong(at + 24, paddr);
        b.putLong(at + 32, filesz);
        b.putLong(at + 40, memsz);
        b.putLong(at + 48, 0x1000);
    }

    /** Guest memory laid out as a VM of {@code bytes} would have it (native, zeroed). */
    static GuestMemory memory(long bytes) {
        Arena arena = Arena.ofShared();
        List<MemoryRegion> regions = new ArrayList<>();
        for (X86Layout.Range r : X86Layout.ramRanges(bytes)) {
            regions.add(new MemoryRegion(r.start(), arena.allocate(r.size(), 4096)));
        }
        return new GuestMemory(regions, 4096, arena::close);
    }

    /** Real bzImages found here: $IGNITION_TEST_BZIMAGE, the default guest build, /boot, nested-kvm's Debian kernel. */
    static List<Path> realBzImages() {
        return Stream.concat(Stream.of(env("IGNITION_TEST_BZIMAGE"), guestBuild("bzImage"),
                        home(".cache/nested-kvm/vmlinuz")), bootKernels())
                .filter(p -> p != null && Files.isRegularFile(p) && Files.isReadable(p)).distinct().toList();
    }

    /** A real vmlinux: $IGNITION_TEST_VMLINUX or the default guest build. */
    static Optional<Path> realVmlinux() {
        return firstFile(Stream.of(env("IGNITION_TEST_VMLINUX"), guestBuild("vmlinux")));
    }

    static final String NO_IMAGE = "no real kernel image here: set IGNITION_TEST_BZIMAGE / IGNITION_TEST_VMLINUX, or"
            + " run guests/x86_64/build.sh, or install a Debian linux-image package";

    private static Optional<Path> firstFile(Stream<Path> candidates) {
        return candidates.filter(p -> p != null && Files.isRegularFile(p) && Files.isReadable(p)).findFirst();
    }

    private static Path env(String name) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? null : Path.of(v);
    }

    private static Path home(String rel) {
        return Path.of(System.getProperty("user.home")).resolve(rel);
    }

    private static Path guestBuild(String file) {
        String cache = System.getenv("IGNITION_CACHE_DIR");
        Path root = cache != null ? Path.of(cache) : home(".cache/ignition");
        return root.resolve("guests/x86_64-default").resolve(file);
    }

    private static Stream<Path> bootKernels() {
        try (Stream<Path> s = Files.list(Path.of("/boot"))) {
            return s.filter(p -> p.getFileName().toString().startsWith("vmlinuz-")).sorted().toList().stream();
        } catch (Exception e) {
            return Stream.empty();
        }
    }
}
