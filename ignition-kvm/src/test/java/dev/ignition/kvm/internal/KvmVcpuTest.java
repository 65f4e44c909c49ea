package dev.ignition.kvm.internal;

import static dev.ignition.kvm.internal.FakeKvm.FIRST_VCPU_FD;
import static dev.ignition.kvm.internal.FakeKvm.PIO_DATA;
import static dev.ignition.kvm.internal.FakeKvm.errno;
import static dev.ignition.kvm.internal.FakeKvm.event;
import static dev.ignition.kvm.internal.FakeKvm.exit;
import static dev.ignition.kvm.internal.FakeKvm.io;
import static dev.ignition.kvm.internal.FakeKvm.mmio;
import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.IgnitionException;
import dev.ignition.NativeCallException;
import dev.ignition.internal.posix.Errno;
import dev.ignition.spi.BootState;
import dev.ignition.spi.VcpuExit;
import java.lang.foreign.MemorySegment;
import java.util.HexFormat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** KvmVcpu against {@link FakeKvm}: exit decoding, read completions, settle, kicks; no /dev/kvm. */
class KvmVcpuTest {
    static final int FD = FIRST_VCPU_FD;
    static final long MMIO_DATA = 0x28;
    FakeKvm kvm;
    KvmVcpu cpu;

    @BeforeEach
    void setUp() {
        kvm = new FakeKvm();
        cpu = new KvmVcpu(kvm, 0, null);
    }

    @AfterEach
    void tearDown() {
        cpu.close();
    }

    MemorySegment run() {
        return kvm.runPage(FD);
    }

    static VcpuExit.PortIn portIn(VcpuExit e, int port, int size) {
        assertThat(e).isInstanceOf(VcpuExit.PortIn.class);
        VcpuExit.PortIn in = (VcpuExit.PortIn) e;
        assertThat(in.port()).isEqualTo(port);
        assertThat(in.size()).isEqualTo(size);
        return in;
    }

    static VcpuExit.MmioRead mmioRead(VcpuExit e, long address, int size) {
        assertThat(e).isInstanceOf(VcpuExit.MmioRead.class);
        VcpuExit.MmioRead r = (VcpuExit.MmioRead) e;
        assertThat(r.address()).isEqualTo(address);
        assertThat(r.size()).isEqualTo(size);
        return r;
    }

    // ---- creation ----

    @Test
    void creationMapsKvmRunInstallsTheRunSignalMaskAndTheHostCpuid() {
        assertThat(kvm.calls).startsWith("KVM_CREATE_VCPU fd 100 0", "mmap fd 101 " + FakeKvm.RUN_SIZE,
                "KVM_SET_SIGNAL_MASK fd 101", "KVM_SET_CPUID2 fd 101");
        MemorySegment mask = FakeKvm.view(kvm.structs(FD).get("SIGNAL_MASK"));
        assertThat(mask.get(JAVA_INT, 0)).isEqualTo(8);
        assertThat(mask.get(JAVA_LONG.withByteAlignment(1), 4)).isEqualTo(FakeKvm.RUN_SIGNAL_MASK);
        MemorySegment cpuid = FakeKvm.view(kvm.structs(FD).get("CPUID2"));
        assertThat(cpuid.get(JAVA_INT, 8 + 40 + 0x14) >>> 31).as("leaf 1 ECX.hypervisor").isEqualTo(1);
        KvmVcpu second = new KvmVcpu(kvm, 3, null);
        try {
            MemorySegment c3 = FakeKvm.view(kvm.structs(FD + 1).get("CPUID2"));
            assertThat(c3.get(JAVA_INT, 8 + 40 + 0x10) >>> 24).as("leaf 1 EBX: APIC id").isEqualTo(3);
            assertThat(c3.get(JAVA_INT, 8 + 80 + 0x18)).as("leaf 0xb EDX: x2APIC id").isEqualTo(3);
        } finally {
            second.close();
        }
    }

    @Test
    void aKernelModeBootSetsLongModeRegistersFpuMsrsAndLapic() {
        KvmVcpu boot = new KvmVcpu(kvm, 1, new BootState.X86LongMode(0x10_0000, 0x8000, 0x9000, 0x1000, 0x2000, 0x7000, 0));
        try {
            int fd = FD + 1;
            MemorySegment sregs = FakeKvm.view(kvm.structs(fd).get("SREGS"));
            long cr0 = sregs.get(JAVA_LONG, KvmStructs.KVM_SREGS.byteOffset(
                    groupElement("cr0")));
            assertThat(cr0 & 0x8000_0001L).as("PE and PG").isEqualTo(0x8000_0001L);
            MemorySegment regs = FakeKvm.view(kvm.structs(fd).get("REGS"));
            assertThat(regs.get(JAVA_LONG, 0x80)).as("rip").isEqualTo(0x10_0000);
            assertThat(kvm.msrs(fd)).containsEntry(0x1a0, 1L).containsEntry(0x2ff, 0x806L);
            MemorySegment fpu = FakeKvm.view(kvm.structs(fd).get("FPU"));
            assertThat((long) KvmStructs.FPU_MXCSR.get(fpu, 0L)).isEqualTo(0x1f80);
            MemorySegment lapic = FakeKvm.view(kvm.structs(fd).get("LAPIC"));
            assertThat((lapic.get(JAVA_INT, KvmStructs.APIC_LVT0) >> 8) & 7).as("LINT0 ExtINT").isEqualTo(7);
            assertThat((lapic.get(JAVA_INT, KvmStructs.APIC_LVT1) >> 8) & 7).as("LINT1 NMI").isEqualTo(4);
        } finally {
            boot.close();
        }
    }

    @Test
    void aFailedCreationUnmapsAndClosesWhatItOpened() {
        kvm.failures.put(KvmIoctl.SET_CPUID2, Errno.EINVAL);
        assertThatThrownBy(() -> new KvmVcpu(kvm, 1, null)).isInstanceOf(NativeCallException.class)
                .hasMessageContaining("KVM_SET_CPUID2");
        assertThat(kvm.closed).containsExactly(FD + 1);
        assertThat(kvm.calls).contains("munmap " + FakeKvm.RUN_SIZE);
    }

    @Test
    void aFailingCleanupIsSuppressedNotInsteadOfTheCause() {
        FakeKvm brokenClose = new FakeKvm() {
            @Override
            public void close(int fd) {
                throw new IllegalStateException("close failed");
            }
        };
        brokenClose.failures.put(KvmIoctl.SET_SIGNAL_MASK, Errno.EINVAL);
        assertThatThrownBy(() -> new KvmVcpu(brokenClose, 0, null)).isInstanceOf(NativeCallException.class)
                .hasMessageContaining("KVM_SET_SIGNAL_MASK")
                .satisfies(e -> assertThat(e.getSuppressed()).extracting(Throwable::getMessage)
                        .containsExactly("close failed"));
        assertThat(brokenClose.calls).contains("munmap " + FakeKvm.RUN_SIZE);
    }

    // ---- exits ----

    @ParameterizedTest
    @CsvSource({"1, 0x3f8, 0x41", "2, 0x70, 0xbeef", "4, 0xcf8, 0x80001234", "1, 0xffff, 0xff"})
    void portWritesCarryTheirLittleEndianValue(int size, String port, String value) {
        long v = Long.decode(value);
        byte[] data = new byte[size];
        for (int i = 0; i < size; i++) {
            data[i] = (byte) (v >>> (8 * i));
        }
        kvm.script(FD, io(true, size, Integer.decode(port), 1, PIO_DATA, data));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.PortOut(Integer.decode(port), size, v));
        assertThat(cpu.midInstruction()).isFalse();
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4})
    void aPortReadIsAnsweredInKvmRunsDataAndTheNextRunEntersTheKernel(int size) {
        run().asSlice(PIO_DATA, 8).fill((byte) 0xee);
        kvm.script(FD, io(false, size, 0x3fd, 1, PIO_DATA), exit(KvmIoctl.EXIT_HLT));
        VcpuExit.PortIn in = portIn(cpu.run(), 0x3fd, size);
        assertThat(cpu.midInstruction()).isTrue();
        in.complete(0x1122_3344_5566_7788L);
        assertThat(cpu.midInstruction()).isFalse();
        byte[] expected = HexFormat.of().parseHex("8877665544332211".substring(0, 2 * size) + "ee".repeat(8 - size));
        assertThat(run().asSlice(PIO_DATA, 8).toArray(JAVA_BYTE)).as("only size bytes written").isEqualTo(expected);
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Halted.class);
        assertThat(kvm.kvmRuns()).isEqualTo(2);
    }

    @Test
    void stringPortWritesComeOutOneElementAtATimeFromOneKvmExit() {
        kvm.script(FD, io(true, 2, 0x1f0, 3, PIO_DATA, (byte) 0x01, (byte) 0x02, (byte) 0x03, (byte) 0x04,
                (byte) 0x05, (byte) 0x06), exit(KvmIoctl.EXIT_HLT));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.PortOut(0x1f0, 2, 0x0201));
        assertThat(cpu.midInstruction()).isTrue();
        assertThat(cpu.run()).isEqualTo(new VcpuExit.PortOut(0x1f0, 2, 0x0403));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.PortOut(0x1f0, 2, 0x0605));
        assertThat(cpu.midInstruction()).isFalse();
        assertThat(kvm.kvmRuns()).as("one KVM_RUN for the whole rep outsw").isEqualTo(1);
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Halted.class);
    }

    @Test
    void stringPortReadsFillSuccessiveSlots() {
        kvm.script(FD, io(false, 4, 0x60, 3, PIO_DATA), exit(KvmIoctl.EXIT_HLT));
        for (int i = 0; i < 3; i++) {
            VcpuExit.PortIn in = portIn(cpu.run(), 0x60, 4);
            assertThat(cpu.midInstruction()).isTrue();
            in.complete(0xa0b0c0d0L + i);
        }
        assertThat(cpu.midInstruction()).isFalse();
        for (int i = 0; i < 3; i++) {
            assertThat(run().get(JAVA_INT, PIO_DATA + 4L * i)).isEqualTo((int) (0xa0b0c0d0L + i));
        }
        assertThat(kvm.kvmRuns()).isEqualTo(1);
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Halted.class);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8})
    void mmioWritesTakeLenBytes(int len) {
        kvm.script(FD, mmio(true, 0xd000_0000L, len, 0x8877_6655_4433_2211L));
        long mask = len == 8 ? -1L : (1L << (8 * len)) - 1;
        assertThat(cpu.run()).isEqualTo(new VcpuExit.MmioWrite(0xd000_0000L, len, 0x8877_6655_4433_2211L & mask));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 8})
    void anMmioReadIsAnsweredInKvmRunMmioData(int len) {
        kvm.script(FD, mmio(false, 0xfee0_0030L, len, 0xeeee_eeee_eeee_eeeeL), exit(KvmIoctl.EXIT_HLT));
        mmioRead(cpu.run(), 0xfee0_0030L, len).complete(0x0102_0304_0506_0708L);
        long mask = len == 8 ? -1L : (1L << (8 * len)) - 1;
        assertThat(run().get(JAVA_LONG, MMIO_DATA))
                .isEqualTo((0x0102_0304_0506_0708L & mask) | (0xeeee_eeee_eeee_eeeeL & ~mask));
        assertThat(cpu.midInstruction()).isFalse();
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Halted.class);
    }

    @Test
    void theOtherExitsDecode() {
        kvm.script(FD,
                exit(KvmIoctl.EXIT_HLT),
                exit(KvmIoctl.EXIT_SHUTDOWN),
                event(KvmIoctl.EXIT_SYSTEM_EVENT, KvmIoctl.SYSTEM_EVENT_SHUTDOWN, 0),
                event(KvmIoctl.EXIT_SYSTEM_EVENT, KvmIoctl.SYSTEM_EVENT_RESET, 0),
                event(KvmIoctl.EXIT_SYSTEM_EVENT, 7, 0),
                exit(KvmIoctl.EXIT_INTR),
                event(KvmIoctl.EXIT_INTERNAL_ERROR, 1, 2, 0xabc, 0xdef),
                event(KvmIoctl.EXIT_FAIL_ENTRY, 0x80000021, 0),
                exit(KvmIoctl.EXIT_EXCEPTION));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.Halted());
        assertThat(cpu.run()).isEqualTo(new VcpuExit.Shutdown("vCPU 0 triple-faulted (KVM_EXIT_SHUTDOWN)"));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.Shutdown("guest requested shutdown"));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.Reset());
        assertThat(cpu.run()).isEqualTo(new VcpuExit.Failed("KVM_EXIT_SYSTEM_EVENT type 7"));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.Interrupted());
        assertThat(cpu.run()).isEqualTo(new VcpuExit.Failed(
                "KVM internal error, suberror 1 (instruction emulation failed) data [0xabc 0xdef]"));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.Failed("VM entry failed, hardware reason 0x80000021"));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.Failed("unhandled KVM exit reason 1"));
    }

    @Test
    void kvmRunErrorsInterruptRetryOrFail() {
        kvm.script(FD, errno(Errno.EAGAIN), exit(KvmIoctl.EXIT_HLT), errno(Errno.EINTR), errno(Errno.EFAULT));
        assertThat(cpu.run()).as("EAGAIN is retried").isInstanceOf(VcpuExit.Halted.class);
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Interrupted.class);
        assertThat(cpu.run()).isInstanceOfSatisfying(VcpuExit.Failed.class,
                f -> assertThat(f.reason()).startsWith("KVM_RUN failed: EFAULT"));
    }

    // ---- hostile kvm_run contents ----

    @ParameterizedTest(name = "size {0}, count {1}, data offset {2}")
    @CsvSource({
        "0, 1, 4096", "3, 1, 4096", "8, 1, 4096", "-1, 1, 4096", "-128, 1, 4096",
        "1, 0, 4096", "4, -1, 4096", "4, 2147483647, 4096", "2, 4097, 4096", "1, 8193, 4096",
        "1, 1, -1", "1, 1, 0", "1, 1, 1", "4, 1, 40", "1, 1, 287", "1, 1, 12288", "4, 1, 12285",
        "1, 1, 9223372036854775807", "4, 2, 9223372036854775806",
    })
    void malformedPortExitsFailAndLeaveNothingPending(int size, int count, long dataOffset) {
        kvm.script(FD, io(false, size, 0x80, count, dataOffset), exit(KvmIoctl.EXIT_HLT));
        VcpuExit e = cpu.run();
        assertThat(e).isInstanceOfSatisfying(VcpuExit.Failed.class,
                f -> assertThat(f.reason()).startsWith("malformed KVM_EXIT_IO"));
        assertThat(cpu.midInstruction()).isFalse();
        assertThat(cpu.run()).as("the vCPU is still consistent").isInstanceOf(VcpuExit.Halted.class);
    }

    @Test
    void theLastElementOfAStringMayEndExactlyAtTheMappingsEnd() {
        long last = FakeKvm.RUN_SIZE - 4;
        kvm.script(FD, io(false, 4, 0x80, 1, last));
        portIn(cpu.run(), 0x80, 4).complete(0xcafe_f00dL);
        assertThat(run().get(JAVA_INT, last)).isEqualTo(0xcafe_f00d);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 9, 16, -1, Integer.MIN_VALUE})
    void malformedMmioExitsFail(int len) {
        kvm.script(FD, mmio(false, 0x1000, len, 0));
        assertThat(cpu.run()).isInstanceOfSatisfying(VcpuExit.Failed.class,
                f -> assertThat(f.reason()).startsWith("malformed KVM_EXIT_MMIO at 0x1000 (len "
                        + Integer.toUnsignedString(len) + ")"));
    }

    @Test
    void hostileCountsAndReasonsAreReadUnsigned() {
        long[] data = new long[16];
        for (int i = 0; i < data.length; i++) {
            data[i] = i;
        }
        kvm.script(FD, event(KvmIoctl.EXIT_INTERNAL_ERROR, -1, -1, data), exit(0x8000_0000));
        assertThat(cpu.run()).isInstanceOfSatisfying(VcpuExit.Failed.class, f -> assertThat(f.reason())
                .startsWith("KVM internal error, suberror 4294967295 data [0x0 0x1")
                .endsWith(" 0xf]"));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.Failed("unhandled KVM exit reason 2147483648"));
    }

    // ---- completions ----

    @Test
    void aReadMustBeAnsweredBeforeTheNextRun() {
        kvm.script(FD, mmio(false, 0x2000, 4, 0), exit(KvmIoctl.EXIT_HLT));
        VcpuExit.MmioRead r = mmioRead(cpu.run(), 0x2000, 4);
        assertThatThrownBy(cpu::run).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("answer the pending MmioRead[address=0x2000, size=4]");
        assertThat(kvm.kvmRuns()).as("the kernel was not entered with the read unanswered").isEqualTo(1);
        r.complete(5);
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Halted.class);
    }

    @Test
    void aReadCompletesOnce() {
        kvm.script(FD, io(false, 1, 0x3f8, 2, PIO_DATA));
        VcpuExit.PortIn first = portIn(cpu.run(), 0x3f8, 1);
        first.complete('a');
        assertThatThrownBy(() -> first.complete('b')).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("PortIn[port=0x3f8, size=1] is not the pending read")
                .hasMessageContaining("none is pending");
        assertThat(run().get(JAVA_BYTE, PIO_DATA)).isEqualTo((byte) 'a');
        assertThat(run().get(JAVA_BYTE, PIO_DATA + 1)).as("the second answer went nowhere").isZero();
    }

    @Test
    void aStaleOrLookalikeExitIsRefusedAndWritesNothing() {
        kvm.script(FD, io(false, 1, 0x3f8, 2, PIO_DATA));
        VcpuExit.PortIn first = portIn(cpu.run(), 0x3f8, 1);
        first.complete('a');
        VcpuExit.PortIn second = portIn(cpu.run(), 0x3f8, 1);
        assertThat(second).as("equal as values").isEqualTo(first);
        assertThatThrownBy(() -> first.complete('x')).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("is not the pending read");
        VcpuExit.PortIn lookalike = new VcpuExit.PortIn(0x3f8, 1, second.completion());
        assertThatThrownBy(() -> lookalike.complete('y')).isInstanceOf(IllegalStateException.class);
        assertThat(run().get(JAVA_BYTE, PIO_DATA + 1)).isZero();
        second.complete('b');
        assertThat(run().asSlice(PIO_DATA, 2).toArray(JAVA_BYTE)).containsExactly('a', 'b');
    }

    @Test
    void anotherVcpusExitIsRefused() {
        KvmVcpu other = new KvmVcpu(kvm, 1, null);
        try {
            kvm.script(FD, mmio(false, 0x2000, 4, 0));
            kvm.script(FD + 1, mmio(false, 0x2000, 4, 0));
            VcpuExit.MmioRead mine = mmioRead(cpu.run(), 0x2000, 4);
            VcpuExit.MmioRead theirs = mmioRead(other.run(), 0x2000, 4);
            assertThatThrownBy(() -> mine.completion().complete(theirs, 1)).isInstanceOf(IllegalStateException.class)
                    .hasMessageStartingWith("vCPU 0: ");
            theirs.complete(2);
            mine.complete(1);
            assertThat(run().get(JAVA_INT, MMIO_DATA)).isEqualTo(1);
            assertThat(kvm.runPage(FD + 1).get(JAVA_INT, MMIO_DATA)).isEqualTo(2);
        } finally {
            other.close();
        }
    }

    @Test
    void readExitsNeedACompletion() {
        assertThatThrownBy(() -> new VcpuExit.PortIn(1, 1, null)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> new VcpuExit.MmioRead(1, 1, null)).isInstanceOf(NullPointerException.class);
    }

    // ---- settle, warm-up, kicks ----

    @Test
    void settleLetsKvmFinishAnAnsweredReadWithoutRunningTheGuest() {
        kvm.script(FD, io(false, 1, 0x3f8, 1, PIO_DATA));
        portIn(cpu.run(), 0x3f8, 1).complete(1);
        cpu.settle();
        assertThat(kvm.calls.getLast()).isEqualTo("KVM_RUN fd 101 immediate_exit");
        assertThat(run().get(JAVA_BYTE, 1)).as("immediate_exit cleared").isZero();
        cpu.settle();
        assertThat(kvm.kvmRuns()).as("settled once").isEqualTo(2);
    }

    @Test
    void settleAfterAnMmioWriteEntersOnceAndAfterOtherExitsNever() {
        kvm.script(FD, exit(KvmIoctl.EXIT_HLT));
        cpu.run();
        cpu.settle();
        assertThat(kvm.kvmRuns()).isEqualTo(1);
        kvm.script(FD, mmio(true, 0x2000, 4, 7));
        cpu.run();
        cpu.settle();
        assertThat(kvm.kvmRuns()).isEqualTo(3);
    }

    @Test
    void settleRefusesAnUnansweredReadAndAStringInProgress() {
        kvm.script(FD, mmio(false, 0x2000, 4, 0), io(true, 1, 0x80, 2, PIO_DATA));
        VcpuExit.MmioRead r = mmioRead(cpu.run(), 0x2000, 4);
        assertThatThrownBy(cpu::settle).isInstanceOf(IllegalStateException.class).hasMessageContaining("not answered");
        r.complete(0);
        cpu.run();
        assertThatThrownBy(cpu::settle).isInstanceOf(IllegalStateException.class).hasMessageContaining("string I/O");
        assertThat(cpu.midInstruction()).isTrue();
    }

    @Test
    void settleAndWarmUpFailClearlyWhenTheKernelDoesNotReturnEintr() {
        FakeKvm ignoresImmediateExit = new FakeKvm() {
            @Override
            public int run(int vcpuFd) {
                return runPage(vcpuFd).get(JAVA_BYTE, 1) != 0 ? -Errno.EFAULT : super.run(vcpuFd);
            }
        };
        KvmVcpu broken = new KvmVcpu(ignoresImmediateExit, 0, null);
        try {
            assertThatThrownBy(broken::warmUp).isInstanceOf(IgnitionException.class)
                    .hasMessage("warming up vCPU 0: KVM_RUN with immediate_exit returned -" + Errno.EFAULT);
            ignoresImmediateExit.script(FD, mmio(true, 0x2000, 4, 7));
            broken.run();
            assertThatThrownBy(broken::settle).isInstanceOf(IgnitionException.class)
                    .hasMessage("settling vCPU 0: KVM_RUN with immediate_exit returned -" + Errno.EFAULT);
            assertThat(ignoresImmediateExit.runPage(FD).get(JAVA_BYTE, 1)).as("immediate_exit cleared").isZero();
        } finally {
            broken.close();
        }
    }

    @Test
    void warmUpEntersWithImmediateExitAndRunsNoGuestCode() {
        cpu.warmUp();
        assertThat(kvm.calls.getLast()).isEqualTo("KVM_RUN fd 101 immediate_exit");
        assertThat(run().get(JAVA_BYTE, 1)).isZero();
    }

    @Test
    void requestExitMakesTheNextRunReturnInterruptedAndIsConsumedThere() {
        kvm.script(FD, exit(KvmIoctl.EXIT_HLT));
        cpu.requestExit();
        assertThat(kvm.calls.getLast()).isEqualTo("kick " + FakeKvm.TID);
        assertThat(run().get(JAVA_BYTE, 1)).isEqualTo((byte) 1);
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Interrupted.class);
        assertThat(run().get(JAVA_BYTE, 1)).isZero();
        assertThat(kvm.kicksPending).as("the kick signal was accepted").isZero();
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Halted.class);
    }

    @Test
    void aStringInstructionIsDeliveredWholeEvenWhenAKickArrives() {
        kvm.script(FD, io(true, 1, 0x80, 2, PIO_DATA, (byte) 1, (byte) 2));
        assertThat(cpu.run()).isEqualTo(new VcpuExit.PortOut(0x80, 1, 1));
        cpu.requestExit();
        assertThat(cpu.run()).isEqualTo(new VcpuExit.PortOut(0x80, 1, 2));
        assertThat(cpu.run()).isInstanceOf(VcpuExit.Interrupted.class);
    }

    @Test
    void closeReleasesTheMappingAndDescriptorOnceAndLaterKicksAreIgnored() {
        cpu.close();
        cpu.close();
        assertThat(kvm.calls.stream().filter(c -> c.startsWith("munmap"))).hasSize(1);
        assertThat(kvm.closed).containsExactly(FD);
        cpu.requestExit();
        assertThat(kvm.calls).doesNotContain("kick " + FakeKvm.TID);
    }

    @Test
    void aReadAnsweredAfterCloseIsRefusedNotWrittenToTheUnmappedPage() {
        kvm.script(FD, io(false, 1, 0x3f8, 2, PIO_DATA));
        VcpuExit.PortIn in = portIn(cpu.run(), 0x3f8, 1);
        cpu.close();
        assertThatThrownBy(() -> in.complete('a')).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("none is pending");
        assertThat(run().get(JAVA_BYTE, PIO_DATA)).isZero();
        assertThat(cpu.midInstruction()).isFalse();
    }

    @Test
    void portFieldsAreUnsigned() {
        kvm.script(FD, io(true, 1, 0xfffe, 1, PIO_DATA, (byte) 0x80));
        run().set(JAVA_SHORT, 0x22, (short) 0xfffe);
        assertThat(cpu.run()).isEqualTo(new VcpuExit.PortOut(0xfffe, 1, 0x80));
    }
}
