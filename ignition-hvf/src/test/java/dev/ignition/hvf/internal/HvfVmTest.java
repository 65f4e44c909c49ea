package dev.ignition.hvf.internal;

import static dev.ignition.hvf.internal.FakeHvf.exception;
import static dev.ignition.hvf.internal.TestVms.ENTRY;
import static dev.ignition.hvf.internal.TestVms.RAM;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.internal.arm64.Arm64DeviceTree;
import dev.ignition.internal.arm64.Arm64Layout;
import dev.ignition.internal.arm64.Psci;
import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.spi.BootState;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VcpuExit;
import dev.ignition.spi.VmConfig;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class HvfVmTest {
    static final long WRITE_FAULT = TestVms.dabt(false, 8, false, 0, true, true, 0x0f); // permission, level 3

    @Test
    void createsGicThenMapsRamWriteProtectedWhenTracking() {
        FakeHvf fake = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(fake, mem, 1, true);
            assertThat(fake.calls).containsSubsequence("vm_create(0)", "gic_create(0x8000000,0x80a0000)",
                    "vm_map(0x40000000,1048576,7)", "vm_protect(0x40000000,1048576,5)");
            assertThat(fake.protection.values()).containsOnly(HvfVm.RX);
            vm.close();
            assertThat(fake.calls).endsWith("vm_unmap(0x40000000)", "vm_destroy");
            vm.close(); // idempotent
            assertThat(fake.calls.stream().filter("vm_destroy"::equals)).hasSize(1);
        }
    }

    @Test
    void dirtyTrackingMarksThePageReenablesWritesAndRerunsWithoutAdvancingPc() {
        FakeHvf fake = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(fake, mem, 1, true);
            Vcpu cpu = vm.createVcpu(0, TestVms.boot());
            long page2 = RAM + 2 * HvfVm.PAGE;
            AtomicReference<Long> pcAtRetry = new AtomicReference<>();
            fake.script(0,
                    c -> exception(WRITE_FAULT, page2 + 0x123),
                    c -> {
                        pcAtRetry.set(c.pc());
                        assertThat(fake.protection.get(page2)).as("writes re-enabled").isEqualTo(HvfVm.RWX);
                        assertThat(fake.protection.get(page2 + HvfVm.PAGE)).as("neighbour still protected")
                                .isEqualTo(HvfVm.RX);
                        // S1PTW write (hardware AF/DB update) on another tracked page, ISV=0.
                        return exception(WRITE_FAULT | 1L << 7, RAM + 5 * HvfVm.PAGE + 8);
                    },
                    c -> { c.x(0, Psci.SYSTEM_OFF); return exception(TestVms.hvc(0), 0); });
            assertThat(cpu.run()).isInstanceOf(VcpuExit.Shutdown.class);
            assertThat(pcAtRetry.get()).isEqualTo(ENTRY);
            long[] dirty = vm.fetchDirtyPages(0);
            assertThat(dirty[0]).isEqualTo(1L << 2 | 1L << 5);
            assertThat(fake.protection.get(page2)).as("protected again after fetch").isEqualTo(HvfVm.RX);
            assertThat(fake.protection.get(RAM + 5 * HvfVm.PAGE)).isEqualTo(HvfVm.RX);
            assertThat(vm.fetchDirtyPages(0)).containsOnly(0L);

            // Host writes do not fault; GuestMemory records them for the snapshot's union.
            mem.drainHostDirty(0);
            mem.writeLong(RAM + 7 * HvfVm.PAGE + 16, 42);
            assertThat(mem.drainHostDirty(0)[0]).isEqualTo(1L << 7);
            assertThat(vm.fetchDirtyPages(0)).containsOnly(0L);
            cpu.close();
            vm.close();
        }
    }

    @Test
    void consecutiveDirtyPagesAreReprotectedInOneCall() {
        FakeHvf fake = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(fake, mem, 1, true);
            Vcpu cpu = vm.createVcpu(0, TestVms.boot());
            fake.script(0, c -> exception(WRITE_FAULT, RAM + 3 * HvfVm.PAGE),
                    c -> exception(WRITE_FAULT, RAM + 4 * HvfVm.PAGE),
                    c -> exception(WRITE_FAULT, RAM + 63 * HvfVm.PAGE + 1),
                    c -> { c.x(0, Psci.SYSTEM_OFF); return exception(TestVms.hvc(0), 0); });
            cpu.run();
            fake.calls.clear();
            assertThat(vm.fetchDirtyPages(0)[0]).isEqualTo(1L << 3 | 1L << 4 | 1L << 63);
            assertThat(fake.calls).containsExactly("vm_protect(0x4000c000,32768,5)", "vm_protect(0x400fc000,16384,5)");
            cpu.close();
            vm.close();
        }
    }

    @Test
    void fetchDirtyPagesWithoutTrackingIsAnError() {
        FakeHvf fake = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(fake, mem, 1, false);
            assertThatThrownBy(() -> vm.fetchDirtyPages(0)).isInstanceOf(IllegalStateException.class);
            vm.close();
        }
    }

    @Test
    void secondaryVcpuWaitsForCpuOnAndStartsAtItsEntry() throws Exception {
        FakeHvf fake = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(fake, mem, 2, false);
            Vcpu cpu0 = vm.createVcpu(0, TestVms.boot());
            long entry = RAM + 0x1000;
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch off = new CountDownLatch(1);
            fake.script(1, c -> {
                assertThat(c.pc()).isEqualTo(entry);
                assertThat(c.x(0)).isEqualTo(0x77);
                assertThat(c.reg(Arm64Regs.CPSR)).isEqualTo(0x3c5);
                assertThat(c.sys.get(Arm64Regs.MPIDR_EL1)).isEqualTo(1);
                started.countDown();
                c.x(0, Psci.CPU_OFF);
                return exception(TestVms.hvc(0), 0);
            });
            AtomicReference<Vcpu> cpu1 = new AtomicReference<>();
            CompletableFuture<VcpuExit> second = CompletableFuture.supplyAsync(() -> {
                Vcpu v = vm.createVcpu(1, TestVms.boot());
                cpu1.set(v);
                VcpuExit e = v.run(); // blocks until CPU_ON, runs to CPU_OFF, waits, then gets kicked
                off.countDown();
                v.close();
                return e;
            }, r -> new Thread(r, "ignition-vcpu-1").start());
            fake.script(0,
                    c -> { c.x(0, Psci.AFFINITY_INFO_64); c.x(1, 1); c.x(2, 0); return exception(TestVms.hvc(0), 0); },
                    c -> {
                        assertThat(c.x(0)).as("AFFINITY_INFO before CPU_ON").isEqualTo(Psci.AFFINITY_OFF);
                        c.x(0, Psci.CPU_ON_64); c.x(1, 1); c.x(2, entry); c.x(3, 0x77);
                        return exception(TestVms.hvc(0), 0);
                    },
                    c -> {
                        assertThat(c.x(0)).as("CPU_ON result").isEqualTo(Psci.SUCCESS);
                        c.x(0, Psci.CPU_ON_64); c.x(1, 5); c.x(2, entry);
                        return exception(TestVms.hvc(0), 0);
                    },
                    c -> {
                        assertThat(c.x(0)).as("CPU_ON of a CPU that does not exist").isEqualTo(Psci.INVALID_PARAMETERS);
                        c.x(0, Psci.CPU_ON_64); c.x(1, 0); c.x(2, entry);
                        return exception(TestVms.hvc(0), 0);
                    },
                    c -> {
                        assertThat(c.x(0)).as("CPU_ON of a running CPU").isEqualTo(Psci.ALREADY_ON);
                        c.x(0, Psci.SYSTEM_OFF);
                        return exception(TestVms.hvc(0), 0);
                    });
            assertThat(cpu0.run()).isInstanceOf(VcpuExit.Shutdown.class);
            assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
            // vCPU 1 called CPU_OFF and now waits inside run(); AFFINITY_INFO says OFF once it got there.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (vm.affinityInfo(1, 0) != Psci.AFFINITY_OFF && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertThat(vm.affinityInfo(1, 0)).isEqualTo(Psci.AFFINITY_OFF);
            assertThat(off.getCount()).as("a powered-off vCPU stays in run()").isEqualTo(1);
            assertThatThrownBy(vm::captureState).as("a vCPU inside run() is not stopped")
                    .hasMessageContaining("vCPU 1 is running");
            cpu1.get().requestExit();
            assertThat(second.get(5, TimeUnit.SECONDS)).isInstanceOf(VcpuExit.Interrupted.class);
            cpu0.close();
            vm.close();
        }
    }

    @Test
    void vcpusAreCreatedInIndexOrderWhateverTheThreadOrder() throws Exception {
        FakeHvf fake = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(fake, mem, 2, false);
            CompletableFuture<Long> one = CompletableFuture.supplyAsync(() -> {
                HvfVcpu v = (HvfVcpu) vm.createVcpu(1, TestVms.boot());
                long h = v.handle();
                v.close();
                return h;
            }, r -> new Thread(r, "ignition-vcpu-1").start());
            Thread.sleep(50);
            assertThat(one).isNotDone();
            HvfVcpu zero = (HvfVcpu) vm.createVcpu(0, TestVms.boot());
            assertThat(one.get(5, TimeUnit.SECONDS)).isEqualTo(1);
            assertThat(zero.handle()).isZero();
            assertThatThrownBy(() -> vm.createVcpu(0, TestVms.boot())).hasMessageContaining("already created");
            zero.close();
            vm.close();
        }
    }

    @Test
    void virtualThreadsAreRefused() throws Exception {
        FakeHvf fake = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(fake, mem, 1, false);
            AtomicReference<Throwable> err = new AtomicReference<>();
            Thread.ofVirtual().start(() -> {
                try {
                    vm.createVcpu(0, TestVms.boot());
                } catch (Throwable t) {
                    err.set(t);
                }
            }).join();
            assertThat(err.get()).isInstanceOf(IllegalStateException.class).hasMessageContaining("platform threads");
            vm.close();
        }
    }

    @Test
    void closingTheVmBeforeItsVcpusIsRefused() {
        FakeHvf fake = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(fake, mem, 1, false);
            Vcpu cpu = vm.createVcpu(0, TestVms.boot());
            assertThatThrownBy(vm::close).hasMessageContaining("close vCPU 0");
            cpu.close();
            cpu.close();
            vm.close();
            assertThat(fake.calls).containsSubsequence("vcpu_destroy(0)", "vm_destroy");
        }
    }

    @Test
    void ramBeyondTheDefaultIpaRaisesIpaSizeAndParange() {
        FakeHvf fake = new FakeHvf();
        Arena arena = Arena.ofShared();
        long base = 1L << 36; // needs 37 bits -> 40
        try (GuestMemory mem = new GuestMemory(List.of(new MemoryRegion(base, arena.allocate(HvfVm.PAGE, HvfVm.PAGE))),
                (int) HvfVm.PAGE, arena::close)) {
            HvfVm vm = TestVms.vm(fake, mem, 1, false);
            assertThat(fake.createdIpaBits).isEqualTo(40);
            HvfVcpu v = (HvfVcpu) vm.createVcpu(0, new BootState.Arm64(base, 0));
            assertThat(fake.cpu(0).sys.get(Arm64Regs.ID_AA64MMFR0_EL1) & 0xf).isEqualTo(2);
            v.close();
            vm.close();
        }
        fake.maxIpa = 36;
        Arena a2 = Arena.ofShared();
        try (GuestMemory mem = new GuestMemory(List.of(new MemoryRegion(base, a2.allocate(HvfVm.PAGE, HvfVm.PAGE))),
                (int) HvfVm.PAGE, a2::close)) {
            assertThatThrownBy(() -> TestVms.vm(fake, mem, 1, false)).hasMessageContaining("36-bit");
        }
    }

    @Test
    void badConfigurationsAreRejectedWithReasons() {
        FakeHvf fake = new FakeHvf();
        Arena arena = Arena.ofShared();
        try (GuestMemory low = new GuestMemory(List.of(new MemoryRegion(0, arena.allocate(HvfVm.PAGE, HvfVm.PAGE))),
                (int) HvfVm.PAGE, arena::close)) {
            assertThatThrownBy(() -> TestVms.vm(fake, low, 1, false)).hasMessageContaining("device area");
        }
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            fake.maxVcpus = 2;
            assertThatThrownBy(() -> TestVms.vm(fake, mem, 3, false)).hasMessageContaining("at most 2 vCPUs");
            fake.maxVcpus = 64;
            fake.gic = new HvfLayer.GicParams(0x20_0000, 0x10000, 0x100_0000, 0x20000, 0x20000, 32, 20, 26, 30);
            assertThatThrownBy(() -> TestVms.vm(fake, mem, 1, false))
                    .hasMessageContaining("distributor size 0x200000")
                    .hasMessageContaining("redistributor region of 0x1000000")
                    .hasMessageContaining("SPI range")
                    .hasMessageContaining("timer INTIDs are 26/30");
            assertThat(fake.calls).endsWith("vm_destroy");
        }
    }

    @Test
    void irqLinesAreSpisOffsetBy32AndCheckedAgainstTheRange() {
        FakeHvf fake = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(fake, mem, 1, false);
            vm.setIrqLine(Arm64Layout.virtioSpi(3), true);
            vm.setIrqLine(Arm64Layout.virtioSpi(3), false);
            assertThat(fake.spis).satisfiesExactly(s -> assertThat(s).containsExactly(51, 1),
                    s -> assertThat(s).containsExactly(51, 0));
            assertThatThrownBy(() -> vm.setIrqLine(5000, true)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> vm.setIrqLine(-1, true)).isInstanceOf(IllegalArgumentException.class);
            vm.close();
        }
    }

    @Test
    void deviceTreeGicComesFromTheFrameworkParameters() {
        FakeHvf fake = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm vm = TestVms.vm(fake, mem, 3, false);
            var g = vm.deviceTreeGic();
            assertThat(g.distBase()).isEqualTo(0x0800_0000L);
            assertThat(g.redistBase()).isEqualTo(0x080A_0000L);
            assertThat(g.redistSize()).isEqualTo(3 * 0x20000L);
            assertThat(g.virtualTimerPpi()).isEqualTo(11);
            assertThat(g.physicalTimerPpi()).isEqualTo(14);
            assertThat(g).isEqualTo(Arm64DeviceTree.Gic.standard(3, 11));
            vm.close();
        }
    }

    @Test
    void providerAllowsOneVmPerProcess() {
        HvfProvider p = new HvfProvider();
        FakeHvf fake = new FakeHvf();
        try (GuestMemory mem = TestVms.memory(TestVms.RAM_SIZE)) {
            HvfVm first = p.createVm(fake, new VmConfig(mem, 1, false));
            assertThatThrownBy(() -> p.createVm(fake, new VmConfig(mem, 1, false)))
                    .hasMessageContaining("one VM per process");
            first.close();
            HvfVm again = p.createVm(fake, new VmConfig(mem, 1, false));
            again.close();
            fake.maxVcpus = 1;
            assertThatThrownBy(() -> p.createVm(fake, new VmConfig(mem, 2, false))).hasMessageContaining("at most");
            fake.maxVcpus = 64;
            p.createVm(fake, new VmConfig(mem, 1, false)).close(); // the failed attempt released the slot
        }
    }
}
