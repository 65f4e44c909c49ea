package dev.ignition.hvf.internal;

import static dev.ignition.hvf.internal.FakeHvf.exception;
import static dev.ignition.hvf.internal.TestVms.ENTRY;
import static dev.ignition.hvf.internal.TestVms.RAM;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.internal.arm64.Arm64Layout;
import dev.ignition.internal.arm64.Psci;
import dev.ignition.memory.GuestMemory;
import dev.ignition.spi.Vcpu;
import dev.ignition.spi.VcpuExit;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class HvfVcpuTest {
    static final long MMIO = Arm64Layout.VIRTIO_BASE + 0x70;
    FakeHvf fake;
    GuestMemory mem;
    HvfVm vm;
    Vcpu cpu;

    @BeforeEach
    void setUp() {
        fake = new FakeHvf();
        mem = TestVms.memory(TestVms.RAM_SIZE);
        vm = TestVms.vm(fake, mem, 1, false);
        cpu = vm.createVcpu(0, TestVms.boot());
    }

    @AfterEach
    void tearDown() {
        cpu.close();
        vm.close();
        mem.close();
    }

    FakeHvf.Cpu c0() {
        return fake.cpu(0);
    }

    @Test
    void bootStateFollowsTheArm64BootProtocol() {
        assertThat(c0().pc()).isEqualTo(ENTRY);
        assertThat(c0().x(0)).isEqualTo(RAM + 0x8_0000);
        assertThat(c0().x(1)).isZero();
        assertThat(c0().reg(Arm64Regs.CPSR)).isEqualTo(0x3c5);
        assertThat(c0().sys.get(Arm64Regs.MPIDR_EL1)).isZero();
        assertThat((c0().sys.get(Arm64Regs.ID_AA64PFR0_EL1) >> 24) & 0xf).as("GIC field").isEqualTo(1);
        assertThat(c0().sys.get(Arm64Regs.ID_AA64PFR1_EL1)).as("SME hidden, rest kept").isEqualTo(0x20L);
        assertThat(fake.calls).contains("vtimer_offset(0)");
    }

    @ParameterizedTest(name = "read {0} bytes, SSE={1}, SF={2}")
    @CsvSource({
        // size, sse, sf, device value, expected register
        "1, false, true,  0xffffffffffffff80, 0x80",
        "1, true,  false, 0x80,               0xffffff80",
        "1, true,  true,  0x80,               0xffffffffffffff80",
        "1, true,  true,  0x7f,               0x7f",
        "2, false, false, 0x12348765,         0x8765",
        "2, true,  false, 0x8765,             0xffff8765",
        "2, true,  true,  0x8765,             0xffffffffffff8765",
        "4, false, false, 0x1122334480000000, 0x80000000",
        "4, true,  true,  0x80000000,         0xffffffff80000000",
        "8, false, true,  0x8877665544332211, 0x8877665544332211",
    })
    void mmioReadDecodesSizeAndExtension(int size, boolean sse, boolean sf, String device, String expected) {
        long esr = TestVms.dabt(true, size, sse, 5, sf, false, 0x07);
        c0().x(5, 0xdead);
        fake.script(0, c -> exception(esr, MMIO));
        VcpuExit.MmioRead read = mmioRead(cpu.run(), size);
        assertThat(c0().pc()).as("PC not advanced before the read completes").isEqualTo(ENTRY);
        read.complete(Long.parseUnsignedLong(device.substring(2), 16));
        assertThat(c0().x(5)).isEqualTo(Long.parseUnsignedLong(expected.substring(2), 16));
        assertThat(c0().pc()).isEqualTo(ENTRY + 4);
    }

    @Test
    void mmioReadIntoXzrDiscardsTheValue() {
        for (int r = 0; r < 31; r++) {
            c0().x(r, 1000 + r);
        }
        fake.script(0, c -> exception(TestVms.dabt(true, 4, false, 31, false, false, 0x07), MMIO));
        mmioRead(cpu.run(), 4).complete(0x1234);
        for (int r = 0; r < 31; r++) {
            assertThat(c0().x(r)).isEqualTo(1000 + r);
        }
        assertThat(c0().pc()).isEqualTo(ENTRY + 4);
    }

    @ParameterizedTest
    @CsvSource({"1, 0x88", "2, 0x7788", "4, 0x55667788", "8, 0x1122334455667788"})
    void mmioWriteTakesTheRegistersLowBytes(int size, String expected) {
        c0().x(7, 0x1122334455667788L);
        fake.script(0, c -> exception(TestVms.dabt(true, size, false, 7, true, true, 0x07), MMIO));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.MmioWrite(MMIO, size, Long.parseUnsignedLong(expected.substring(2), 16)));
        assertThat(c0().pc()).isEqualTo(ENTRY + 4);
    }

    @Test
    void mmioWriteFromXzrWritesZero() {
        c0().regs.put(31, ENTRY); // HV_REG_PC is 31: XZR must not read it
        fake.script(0, c -> exception(TestVms.dabt(true, 4, false, 31, false, true, 0x07), MMIO));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.MmioWrite(MMIO, 4, 0));
    }

    private static VcpuExit.MmioRead mmioRead(VcpuExit exit, int size) {
        assertThat(exit).isInstanceOf(VcpuExit.MmioRead.class);
        VcpuExit.MmioRead r = (VcpuExit.MmioRead) exit;
        assertThat(r.address()).isEqualTo(MMIO);
        assertThat(r.size()).isEqualTo(size);
        return r;
    }

    @Test
    void readMustBeCompletedBeforeRunningAgain() {
        fake.script(0, c -> exception(TestVms.dabt(true, 4, false, 1, false, false, 0x07), MMIO));
        VcpuExit.MmioRead read = mmioRead(cpu.run(), 4);
        assertThatThrownBy(cpu::run).isInstanceOf(IllegalStateException.class).hasMessageContaining("pending MMIO read");
        read.complete(7);
        assertThat(c0().x(1)).isEqualTo(7);
    }

    @Test
    void aReadCompletesOnceAndOnlyWhilePending() {
        c0().x(1, 0x55);
        fake.script(0, c -> exception(TestVms.dabt(true, 4, false, 1, false, false, 0x07), MMIO));
        VcpuExit.MmioRead read = mmioRead(cpu.run(), 4);
        VcpuExit.MmioRead lookalike = new VcpuExit.MmioRead(MMIO, 4, read.completion());
        assertThat(lookalike).isEqualTo(read);
        assertThatThrownBy(() -> lookalike.complete(9)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("is not the pending read");
        assertThat(c0().x(1)).as("a stale exit writes nothing").isEqualTo(0x55);
        read.complete(1);
        assertThatThrownBy(() -> read.complete(2)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("none is pending");
        assertThat(c0().x(1)).isEqualTo(1);
        assertThat(c0().pc()).as("PC advanced once").isEqualTo(ENTRY + 4);
    }

    @Test
    void mmioWithoutSyndromeFailsWithAReason() {
        fake.script(0, c -> exception(TestVms.dabt(false, 1, false, 0, false, true, 0x07), MMIO));
        assertThat(cpu.run()).isInstanceOfSatisfying(VcpuExit.Failed.class,
                f -> assertThat(f.reason()).contains("ISV=0").contains("0xa000070"));
    }

    @Test
    void cacheMaintenanceOnMmioIsSkipped() {
        long esr = TestVms.dabt(true, 1, false, 0, false, true, 0x07) | 1L << 8;
        fake.script(0, c -> exception(esr, MMIO), c -> exception(TestVms.hvc(0), 0));
        c0().x(0, Psci.SYSTEM_OFF);
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Shutdown.class);
        assertThat(c0().pc()).isEqualTo(ENTRY + 4);
    }

    @Test
    void psciVersionFeaturesAndMigrateInfoOverHvcLeavePcAlone() {
        fake.script(0,
                c -> { c.x(0, Psci.VERSION); return exception(TestVms.hvc(0), 0); },
                c -> {
                    assertThat(c.x(0)).isEqualTo(0x1_0000);
                    c.x(0, Psci.FEATURES);
                    c.x(1, Psci.CPU_ON_64);
                    return exception(TestVms.hvc(0), 0);
                },
                c -> {
                    assertThat(c.x(0)).isZero();
                    c.x(0, Psci.FEATURES);
                    c.x(1, Psci.CPU_SUSPEND_64);
                    return exception(TestVms.hvc(0), 0);
                },
                c -> {
                    assertThat(c.x(0)).isEqualTo(-1);
                    c.x(0, Psci.MIGRATE_INFO_TYPE);
                    return exception(TestVms.hvc(0), 0);
                },
                c -> {
                    assertThat(c.x(0)).isEqualTo(2);
                    c.x(0, 0x8400_00ffL);
                    return exception(TestVms.hvc(0), 0);
                },
                c -> {
                    assertThat(c.x(0)).as("unknown SMCCC function").isEqualTo(-1);
                    c.x(0, Psci.VERSION);
                    return exception(TestVms.hvc(0x1234), 0);
                },
                c -> {
                    assertThat(c.x(0)).as("HVC with a non-zero immediate").isEqualTo(-1);
                    c.x(0, Psci.SYSTEM_RESET);
                    return exception(TestVms.hvc(0), 0);
                });
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Reset.class);
        assertThat(c0().pc()).isEqualTo(ENTRY);
    }

    @Test
    void systemOffShutsDown() {
        fake.script(0, c -> { c.x(0, Psci.SYSTEM_OFF); return exception(TestVms.hvc(0), 0); });
        assertThat(cpu.run()).isEqualTo(new VcpuExit.Shutdown("guest called PSCI SYSTEM_OFF"));
    }

    @Test
    void smcIsNotSupportedAndAdvancesPc() {
        fake.script(0, c -> { c.x(0, Psci.VERSION); return exception(TestVms.smc(), 0); },
                c -> { assertThat(c.x(0)).isEqualTo(-1); c.x(0, Psci.SYSTEM_OFF); return exception(TestVms.hvc(0), 0); });
        cpu.run();
        assertThat(c0().pc()).isEqualTo(ENTRY + 4);
    }

    @ParameterizedTest
    @ValueSource(ints = {3, 31})
    void trappedSystemRegisterReadsAsZero(int rt) {
        c0().x(3, 99);
        fake.script(0, c -> exception(TestVms.sysTrap(true, rt), 0),
                c -> { c.x(0, Psci.SYSTEM_OFF); return exception(TestVms.hvc(0), 0); });
        cpu.run();
        assertThat(c0().x(3)).isEqualTo(rt == 3 ? 0 : 99);
        assertThat(c0().pc()).isEqualTo(ENTRY + 4);
    }

    @Test
    void wfiWithAnExpiredTimerContinuesAtTheNextInstruction() {
        c0().sys.put(Arm64Regs.CNTV_CTL_EL0, 1L);
        c0().sys.put(Arm64Regs.CNTV_CVAL_EL0, 0L); // long past
        fake.script(0, c -> exception(TestVms.wfi(), 0),
                c -> { c.x(0, Psci.SYSTEM_OFF); return exception(TestVms.hvc(0), 0); });
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Shutdown.class);
        assertThat(c0().pc()).isEqualTo(ENTRY + 4);
    }

    @Test
    void wfiSleepsUntilTheVirtualTimerDeadline() {
        c0().sys.put(Arm64Regs.CNTV_CTL_EL0, 1L);
        long waitNanos = 400_000;
        AtomicReference<Long> started = new AtomicReference<>();
        AtomicReference<Long> resumed = new AtomicReference<>();
        fake.script(0, c -> {
            long now = fake.machAbsoluteTime() - c.vtimerOffset;
            c.sys.put(Arm64Regs.CNTV_CVAL_EL0, now + waitNanos);
            started.set(System.nanoTime());
            return exception(TestVms.wfi(), 0);
        }, c -> {
            resumed.set(System.nanoTime());
            c.x(0, Psci.SYSTEM_OFF);
            return exception(TestVms.hvc(0), 0);
        });
        cpu.run();
        assertThat(resumed.get() - started.get()).isGreaterThanOrEqualTo(waitNanos - 50_000);
    }

    @Test
    void wfiWithTheTimerMaskedWaitsAtMostTheQuantumAndAnIrqWakesIt() throws Exception {
        c0().sys.put(Arm64Regs.CNTV_CTL_EL0, 3L); // enabled but masked: no deadline
        fake.script(0, c -> exception(TestVms.wfi(), 0),
                c -> { c.x(0, Psci.SYSTEM_OFF); return exception(TestVms.hvc(0), 0); });
        long t0 = System.nanoTime();
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Shutdown.class);
        assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.SECONDS.toNanos(2));
        vm.setIrqLine(Arm64Layout.UART_SPI, true);
        assertThat(fake.spis).anySatisfy(s -> assertThat(s).containsExactly(33, 1));
    }

    @Test
    void vtimerActivatedUnmasksTheTimer() {
        fake.script(0, c -> new HvfLayer.Exit(HvfLayer.EXIT_VTIMER_ACTIVATED, 0, 0, 0),
                c -> { c.x(0, Psci.SYSTEM_OFF); return exception(TestVms.hvc(0), 0); });
        cpu.run();
        assertThat(fake.calls).contains("vtimer_mask(0,false)");
    }

    @Test
    void unknownExitReasonAndUnhandledExceptionFail() {
        fake.script(0, c -> new HvfLayer.Exit(HvfLayer.EXIT_UNKNOWN, 0, 0, 0),
                c -> exception(0x3cL << 26 | 1L << 25, 0));
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Failed.class);
        assertThat(cpu.run()).isInstanceOfSatisfying(VcpuExit.Failed.class,
                f -> assertThat(f.reason()).contains("EC 0x3c"));
    }

    @Test
    void requestExitMakesRunReturnInterruptedOnceAndAStaleCancelIsIgnored() throws Exception {
        CompletableFuture.runAsync(cpu::requestExit).get(5, TimeUnit.SECONDS);
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Interrupted.class);
        // The framework still has the exit request: the next run returns CANCELED once, which is stale.
        fake.script(0, c -> { c.x(0, Psci.SYSTEM_OFF); return exception(TestVms.hvc(0), 0); });
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Shutdown.class);
        assertThat(fake.calls).contains("vcpus_exit");
    }

    @Test
    void vcpuCallsFromAnotherThreadAreRefused() throws Exception {
        Throwable t = CompletableFuture.supplyAsync(() -> {
            try {
                cpu.run();
                return null;
            } catch (Throwable e) {
                return e;
            }
        }).get(5, TimeUnit.SECONDS);
        assertThat(t).isInstanceOf(IllegalStateException.class).hasMessageContaining("creating thread");
    }

    @Test
    void ramFaultWithoutDirtyTrackingFails() {
        fake.script(0, c -> exception(TestVms.dabt(false, 8, false, 0, true, true, 0x0f), RAM + 0x100));
        assertThat(cpu.run()).isInstanceOfSatisfying(VcpuExit.Failed.class,
                f -> assertThat(f.reason()).contains("RAM").contains("0x40000100"));
    }
}
