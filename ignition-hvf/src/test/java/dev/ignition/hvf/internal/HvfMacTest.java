package dev.ignition.hvf.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ignition.Availability;
import dev.ignition.device.DeviceContext;
import dev.ignition.device.InterruptLine;
import dev.ignition.internal.arm64.Arm64Boot;
import dev.ignition.internal.arm64.Arm64Layout;
import dev.ignition.internal.arm64.Pl011;
import dev.ignition.internal.posix.Libc;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.spi.BootState;
import dev.ignition.spi.HypervisorVm;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VcpuExit;
import dev.ignition.spi.VmConfig;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The real framework: boots, dirty-tracks, snapshots and restores guests. macOS 15+ on Apple
 * silicon, with the java executable signed with com.apple.security.hypervisor; skipped elsewhere
 * with the reason.
 */
@Tag("hvf")
class HvfMacTest {
    static final long CODE = Arm64Layout.RAM_BASE + 0x1000;
    HvfProvider provider = new HvfProvider();

    @BeforeEach
    void requireHvf() {
        Availability a = provider.availability();
        assumeTrue(a.available(), "Hypervisor.framework unavailable: " + a.reason());
    }

    static GuestMemory ram(long size) {
        MemorySegment seg = Libc.mmapAnonymous(size);
        return new GuestMemory(List.of(new MemoryRegion(Arm64Layout.RAM_BASE, seg)), Libc.pageSize(),
                () -> Libc.munmap(seg));
    }

    static void load(GuestMemory mem, long at, int[] words) {
        MemorySegment s = mem.slice(at, 4L * words.length);
        for (int i = 0; i < words.length; i++) {
            s.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * i, words[i]);
        }
    }

    @Test
    void runsAGuestThroughMmioAndPsciAndTracksItsWrites() {
        assertThat(Libc.pageSize()).isEqualTo(16384);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Pl011 uart = new Pl011(Arm64Layout.UART_BASE, Arm64Layout.UART_SPI, out);
        try (GuestMemory mem = ram(16L << 20)) {
            load(mem, CODE, GuestPrograms.UART_AND_DIRTY);
            try (HypervisorVm vm = provider.createVm(new VmConfig(mem, 1, true))) {
                Vcpu cpu = vm.createVcpu(0, new BootState.Arm64(CODE, 0));
                VcpuExit e;
                int reads = 0;
                while (true) {
                    e = cpu.run();
                    if (e instanceof VcpuExit.MmioWrite w) {
                        uart.write(w.address() - Arm64Layout.UART_BASE, w.size(), w.value());
                    } else if (e instanceof VcpuExit.MmioRead r) {
                        reads++;
                        r.complete(uart.read(r.address() - Arm64Layout.UART_BASE, r.size()));
                    } else {
                        break;
                    }
                }
                assertThat(e).isEqualTo(new VcpuExit.Shutdown("guest called PSCI SYSTEM_OFF"));
                assertThat(out.toString()).isEqualTo("ok\n");
                assertThat(reads).isEqualTo(1);
                assertThat(mem.readLong(0x4010_0000L)).isEqualTo(0x90); // FR: TXFE | RXFE
                assertThat(mem.readLong(0x4020_0008L)).isEqualTo(0x90);
                long[] dirty = vm.fetchDirtyPages(0);
                long page1 = (0x4010_0000L - Arm64Layout.RAM_BASE) / 16384;
                long page2 = (0x4020_0000L - Arm64Layout.RAM_BASE) / 16384;
                long[] expected = new long[dirty.length];
                expected[(int) (page1 >>> 6)] |= 1L << (page1 & 63);
                expected[(int) (page2 >>> 6)] |= 1L << (page2 & 63);
                assertThat(dirty).containsExactly(expected);
                assertThat(vm.fetchDirtyPages(0)).containsOnly(0L);
                cpu.close();
            }
        }
    }

    /** Runs COUNTER until x19 reaches {@code until}; returns the last v0.d[1] seen. */
    static long runCounter(Vcpu cpu, long from, long until) {
        long v0hi = -1;
        long expect = from;
        while (true) {
            VcpuExit e = cpu.run();
            assertThat(e).isInstanceOf(VcpuExit.MmioWrite.class);
            VcpuExit.MmioWrite w = (VcpuExit.MmioWrite) e;
            if (w.address() == Arm64Layout.VIRTIO_BASE) {
                assertThat(w.value()).isEqualTo(expect);
                if (expect == until) {
                    return v0hi;
                }
                expect++;
            } else {
                assertThat(w.address()).isEqualTo(Arm64Layout.VIRTIO_BASE + 8);
                v0hi = w.value();
            }
        }
    }

    @Test
    void snapshotAndRestoreContinueTheGuestExactly() {
        byte[] ram;
        byte[] vmState;
        byte[] cpuState;
        try (GuestMemory mem = ram(16L << 20)) {
            load(mem, CODE, GuestPrograms.COUNTER);
            try (HypervisorVm vm = provider.createVm(new VmConfig(mem, 1, true))) {
                Vcpu cpu = vm.createVcpu(0, new BootState.Arm64(CODE, 0));
                assertThat(runCounter(cpu, 1, 5)).isEqualTo(0xff00ff00ff00ff00L);
                cpuState = cpu.captureState();
                vmState = vm.captureState();
                ram = mem.read(Arm64Layout.RAM_BASE, 16 << 20);
                cpu.close();
            }
        }
        try (GuestMemory mem = ram(16L << 20)) {
            mem.write(Arm64Layout.RAM_BASE, ram);
            try (HypervisorVm vm = provider.createVm(new VmConfig(mem, 1, true))) {
                Vcpu cpu = vm.createVcpu(0, new BootState.Arm64(0, 0));
                vm.restoreState(vmState);
                cpu.restoreState(cpuState);
                VcpuExit first = cpu.run();
                assertThat(first).as("v0.d[1] survived the SIMD restore stub")
                        .isEqualTo(new VcpuExit.MmioWrite(Arm64Layout.VIRTIO_BASE + 8, 8, 0xff00ff00ff00ff00L));
                runCounter(cpu, 6, 9);
                cpu.close();
            }
        }
    }

    @Test
    void requestExitFromAnotherThreadInterruptsARunningGuest() throws Exception {
        try (GuestMemory mem = ram(16L << 20)) {
            load(mem, CODE, new int[] {0x14000000}); // b . (spin)
            try (HypervisorVm vm = provider.createVm(new VmConfig(mem, 1, false))) {
                Vcpu cpu = vm.createVcpu(0, new BootState.Arm64(CODE, 0));
                CompletableFuture<Void> kick = CompletableFuture.runAsync(() -> {
                    try {
                        Thread.sleep(100);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    cpu.requestExit();
                });
                assertThat(cpu.run()).isInstanceOf(VcpuExit.Interrupted.class);
                kick.get(5, TimeUnit.SECONDS);
                cpu.close();
            }
        }
    }

    @Test
    void bootsTheArm64LinuxGuestToItsRootMountOnTwoVcpus() throws Exception {
        String dir = System.getenv("IGNITION_ARM64_GUEST");
        assumeTrue(dir != null && Files.exists(Path.of(dir, "Image")),
                "set IGNITION_ARM64_GUEST to the directory guests/arm64/build.sh printed");
        byte[] kernel = Files.readAllBytes(Path.of(dir, "Image"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Pl011 uart = new Pl011(Arm64Layout.UART_BASE, Arm64Layout.UART_SPI, out);
        try (GuestMemory mem = ram(256L << 20)) {
            try (HvfVm vm = (HvfVm) provider.createVm(new VmConfig(mem, 2, false))) {
                uart.attach(new DeviceContext() {
                    public GuestMemory memory() {
                        return mem;
                    }

                    public InterruptLine interruptLine(int irq) {
                        return high -> vm.setIrqLine(irq, high);
                    }

                    public long nanosSinceStart() {
                        return System.nanoTime();
                    }
                });
                Arm64Boot.Loaded l = Arm64Boot.load(mem, kernel, null,
                        "console=ttyAMA0 earlycon=pl011,mmio32,0x9000000 panic=-1", 2, vm.deviceTreeGic(), List.of());
                CompletableFuture<VcpuExit> second = new CompletableFuture<>();
                Vcpu[] cpus = new Vcpu[2];
                cpus[0] = vm.createVcpu(0, l.boot());
                Thread t1 = new Thread(() -> {
                    try (Vcpu c = vm.createVcpu(1, l.boot())) {
                        cpus[1] = c;
                        second.complete(loop(c, uart));
                    } catch (Throwable e) {
                        second.completeExceptionally(e);
                    }
                }, "ignition-vcpu-1");
                t1.start();
                CompletableFuture.delayedExecutor(60, TimeUnit.SECONDS).execute(() -> {
                    for (Vcpu c : cpus) {
                        if (c != null) {
                            c.requestExit();
                        }
                    }
                });
                VcpuExit e0 = loop(cpus[0], uart);
                if (cpus[1] != null) {
                    cpus[1].requestExit();
                }
                second.get(10, TimeUnit.SECONDS);
                cpus[0].close();
                String console = out.toString();
                assertThat(console).as(console).contains("Booting Linux").contains("GICv3")
                        .contains("arch_timer").contains("smp: Brought up 1 node, 2 CPUs")
                        .contains("Unable to mount root fs");
                assertThat(e0).isInstanceOfAny(VcpuExit.Reset.class, VcpuExit.Interrupted.class);
            }
        }
    }

    /** MMIO to the UART goes to the PL011; other MMIO reads as 0. */
    static VcpuExit loop(Vcpu cpu, Pl011 uart) {
        while (true) {
            VcpuExit e = cpu.run();
            switch (e) {
                case VcpuExit.MmioWrite w when inUart(w.address()) ->
                        uart.write(w.address() - Arm64Layout.UART_BASE, w.size(), w.value());
                case VcpuExit.MmioWrite w -> { }
                case VcpuExit.MmioRead r -> r.complete(inUart(r.address())
                        ? uart.read(r.address() - Arm64Layout.UART_BASE, r.size()) : 0);
                default -> {
                    return e;
                }
            }
        }
    }

    static boolean inUart(long a) {
        return a >= Arm64Layout.UART_BASE && a < Arm64Layout.UART_BASE + Arm64Layout.UART_SIZE;
    }
}
