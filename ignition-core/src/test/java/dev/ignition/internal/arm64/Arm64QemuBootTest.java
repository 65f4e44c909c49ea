package dev.ignition.internal.arm64;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Boots the cross-built arm64 guest under {@code qemu-system-aarch64 -M virt,gic-version=3} with
 * <em>our</em> device tree, kernel/initrd/device-tree placement and entry registers (QEMU's own
 * Linux loader is not used: everything goes in with {@code -device loader}, and a three-word stub
 * sets x0..x3 as the boot protocol says; only the kernel sits 2 MiB higher than on HVF, above
 * QEMU's own device-tree ROM). Checks the device tree and the guest, not
 * Hypervisor.framework: the CPU is QEMU's TCG, the GIC is QEMU's.
 *
 * <p>Run with {@code guests/arm64/qemu-check.sh}.
 */
@Tag("qemu-arm64")
class Arm64QemuBootTest {
    static final Path QEMU = Path.of("/usr/bin/qemu-system-aarch64");
    /** ldr x0, dtb; mov x1..x3, xzr; ldr x4, kernel; br x4; dtb: .quad; kernel: .quad (binutils). */
    static final int[] ENTRY_STUB = {0x580000c0, 0xaa1f03e1, 0xaa1f03e2, 0xaa1f03e3, 0x58000084, 0xd61f0080};

    @Test
    void bootsToInitWithOurDeviceTreeOnTwoCpus() throws Exception {
        String console = boot(2);
        assertThat(console).as(console)
                .contains("GICv3: CPU1: found redistributor 1 region 0:0x00000000080c0000")
                .contains("smp: Brought up 1 node, 2 CPUs")
                .contains("IGNITION-ARM64-INIT-OK cpus=2");
    }

    /** CPU 16 has MPIDR 0x100 (Aff1 = 1): the second cluster of 16, as in QEMU's virt GICv3. */
    @Test
    void bootsWithSeventeenCpusAcrossTwoAffinityClusters() throws Exception {
        String console = boot(17);
        assertThat(console).as(console)
                .contains("CPU16: Booted secondary processor 0x0000000100")
                .contains("smp: Brought up 1 node, 17 CPUs")
                .contains("IGNITION-ARM64-INIT-OK cpus=17");
    }

    private String boot(int cpus) throws Exception {
        String dir = System.getenv("IGNITION_ARM64_GUEST");
        assumeTrue(dir != null && Files.exists(Path.of(dir, "Image")),
                "set IGNITION_ARM64_GUEST to the directory guests/arm64/build.sh printed (guests/arm64/qemu-check.sh does)");
        assumeTrue(Files.isExecutable(QEMU), "qemu-system-aarch64 not installed: apt-get install qemu-system-arm");
        byte[] kernel = Files.readAllBytes(Path.of(dir, "Image"));
        byte[] initrd = initramfs(Files.readAllBytes(Path.of(dir, "busybox")));
        long ramSize = 256L << 20;
        Arm64Image image = Arm64Image.parse(kernel);
        // QEMU's virt machine keeps its own device tree blob as a ROM in the first MiB of RAM even
        // without -kernel, so the kernel goes one 2 MiB block up here (the boot protocol allows
        // any 2 MiB aligned base); initrd and device tree stay where Ignition puts them.
        long qemuRomBlock = Arm64Image.BASE_ALIGNMENT;
        Arm64Boot.Placement p = Arm64Boot.place(Arm64Layout.RAM_BASE + qemuRomBlock, ramSize - qemuRomBlock, image,
                initrd.length);
        byte[] dtb = Arm64DeviceTree.build(new Arm64DeviceTree.Spec(Arm64Layout.RAM_BASE, ramSize, cpus,
                Arm64DeviceTree.Gic.standard(cpus, 11), List.of(0, 1),
                "console=ttyAMA0 earlycon=pl011,mmio32,0x9000000 rdinit=/init panic=-1",
                new Arm64DeviceTree.Initrd(p.initrdStart(), p.initrdStart() + initrd.length)));
        long stubAt = p.dtbAddress() + (1 << 20);
        ByteBuffer stub = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
        for (int w : ENTRY_STUB) {
            stub.putInt(w);
        }
        stub.putLong(p.dtbAddress()).putLong(p.kernelAddress());

        Path work = Files.createTempDirectory("arm64-qemu");
        Files.write(work.resolve("Image"), kernel);
        Files.write(work.resolve("initrd.cpio"), initrd);
        Files.write(work.resolve("ignition.dtb"), dtb);
        Files.write(work.resolve("stub.bin"), stub.array());
        List<String> cmd = List.of(QEMU.toString(), "-M", "virt,gic-version=3", "-cpu", "max", "-smp", String.valueOf(cpus),
                "-m", "256M", "-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio",
                "-device", loader(work.resolve("Image"), p.kernelAddress()),
                "-device", loader(work.resolve("initrd.cpio"), p.initrdStart()),
                "-device", loader(work.resolve("ignition.dtb"), p.dtbAddress()),
                "-device", loader(work.resolve("stub.bin"), stubAt),
                "-device", "loader,addr=0x" + Long.toHexString(stubAt) + ",cpu-num=0");
        Process q = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Thread pump = new Thread(() -> {
            try {
                q.getInputStream().transferTo(out);
            } catch (IOException ignored) {
                // the process ended
            }
        });
        pump.start();
        boolean exited = q.waitFor(600, TimeUnit.SECONDS);
        if (!exited) {
            q.destroyForcibly();
        }
        pump.join(5000);
        String console = out.toString(StandardCharsets.UTF_8);
        Files.writeString(work.resolve("console.log"), console);
        assertThat(exited).as("QEMU powered off within 600 s; console in " + work).isTrue();
        assertThat(console).as(console)
                .contains("Booting Linux on physical CPU 0x0000000000")
                .contains("Machine model: ignition")
                .contains("Kernel command line: console=ttyAMA0 earlycon=pl011,mmio32,0x9000000 rdinit=/init")
                .contains("GICv3: ")
                .contains("arch_timer: cp15 timer(s) running at")
                .contains("psci: PSCIv")
                .contains("ttyAMA0 at MMIO 0x9000000")
                .contains("Unpacking initramfs")
                .contains("Run /init as init process")
                .contains("reboot: Power down");
        System.out.println("QEMU console saved in " + work.resolve("console.log"));
        return console;
    }

    @Test
    void entryStubMatchesTheCrossAssembler() throws Exception {
        Path as = Path.of("/usr/bin/aarch64-linux-gnu-as");
        Path objcopy = Path.of("/usr/bin/aarch64-linux-gnu-objcopy");
        assumeTrue(Files.isExecutable(as) && Files.isExecutable(objcopy),
                "binutils-aarch64-linux-gnu not installed (apt-get install binutils-aarch64-linux-gnu)");
        Path d = Files.createTempDirectory("stub");
        Files.writeString(d.resolve("s.s"), """
                    ldr x0, dtb
                    mov x1, xzr
                    mov x2, xzr
                    mov x3, xzr
                    ldr x4, kernel
                    br  x4
                dtb: .quad 0
                kernel: .quad 0
                """);
        for (List<String> cmd : List.of(List.of(as.toString(), "-o", d.resolve("s.o").toString(), d.resolve("s.s").toString()),
                List.of(objcopy.toString(), "-O", "binary", "-j", ".text", d.resolve("s.o").toString(),
                        d.resolve("s.bin").toString()))) {
            Process pr = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String msg = new String(pr.getInputStream().readAllBytes());
            assertThat(pr.waitFor()).as(msg).isZero();
        }
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(d.resolve("s.bin"))).order(ByteOrder.LITTLE_ENDIAN);
        int[] words = new int[ENTRY_STUB.length];
        b.asIntBuffer().get(words);
        assertThat(words).containsExactly(ENTRY_STUB);
        assertThat(b.capacity()).isEqualTo(40);
    }

    static String loader(Path file, long addr) {
        return "loader,file=" + file + ",addr=0x" + Long.toHexString(addr) + ",force-raw=on";
    }

    /** A newc cpio with /bin/busybox, /dev/console and an /init that reports and powers off. */
    static byte[] initramfs(byte[] busybox) {
        String init = """
                #!/bin/busybox sh
                /bin/busybox mkdir -p /proc
                /bin/busybox mount -t proc proc /proc
                echo IGNITION-ARM64-INIT-OK cpus=$(/bin/busybox grep -c ^processor /proc/cpuinfo)
                /bin/busybox poweroff -f
                """;
        ByteArrayOutputStream c = new ByteArrayOutputStream();
        int[] ino = {1};
        cpio(c, ino, "bin", 040755, new byte[0], 0, 0);
        cpio(c, ino, "dev", 040755, new byte[0], 0, 0);
        cpio(c, ino, "dev/console", 020600, new byte[0], 5, 1);
        cpio(c, ino, "bin/busybox", 0100755, busybox, 0, 0);
        cpio(c, ino, "init", 0100755, init.getBytes(StandardCharsets.US_ASCII), 0, 0);
        cpio(c, ino, "TRAILER!!!", 0, new byte[0], 0, 0);
        return c.toByteArray();
    }

    private static void cpio(ByteArrayOutputStream c, int[] ino, String name, int mode, byte[] data, int rdevMajor,
                             int rdevMinor) {
        byte[] n = (name + "\0").getBytes(StandardCharsets.US_ASCII);
        String h = String.format("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x", ino[0]++, mode, 0, 0,
                (mode & 040000) != 0 ? 2 : 1, 0, data.length, 0, 0, rdevMajor, rdevMinor, n.length, 0);
        c.writeBytes(h.getBytes(StandardCharsets.US_ASCII));
        c.writeBytes(n);
        pad(c);
        c.writeBytes(data);
        pad(c);
    }

    private static void pad(ByteArrayOutputStream c) {
        while (c.size() % 4 != 0) {
            c.write(0);
        }
    }
}
