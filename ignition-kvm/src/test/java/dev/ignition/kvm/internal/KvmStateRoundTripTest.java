package dev.ignition.kvm.internal;

import static dev.ignition.kvm.internal.FakeKvm.FIRST_VCPU_FD;
import static dev.ignition.kvm.internal.FakeKvm.TSC;
import static dev.ignition.kvm.internal.FakeKvm.TSC_DEADLINE;
import static dev.ignition.kvm.internal.FakeKvm.VM_FD;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.IgnitionException;
import dev.ignition.SnapshotMismatchException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The vCPU and VM state a snapshot keeps, captured from one {@link FakeKvm} and restored into
 * another: every struct the kernel handed out comes back unchanged, in the order KVM needs, and a
 * blob that does not fit is refused before the first {@code KVM_SET_*}.
 */
class KvmStateRoundTripTest {
    static final int FD = FIRST_VCPU_FD;
    /** The vCPU structs captured whole, with their sizes. */
    static final Map<String, Integer> VCPU_STRUCTS = Map.of("MP_STATE", 4, "REGS", 144, "SREGS", 312,
            "XSAVE", 4096, "XCRS", 392, "DEBUGREGS", 128, "LAPIC", 1024, "VCPU_EVENTS", 64);
    final Random random = new Random(13);

    byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    /** A vCPU on {@code kvm} whose structs and MSRs hold distinct values. */
    KvmVcpu busyVcpu(FakeKvm kvm) {
        KvmVcpu cpu = new KvmVcpu(kvm, 0, null);
        VCPU_STRUCTS.forEach((name, size) -> kvm.structs(FD).put(name, randomBytes(size)));
        kvm.msrs(FD).putAll(Map.of(0x174, 0x10L, TSC, 0x1234_5678L, 0x1a0, 1L, 0xc0000080, 0xd01L, TSC_DEADLINE, 0L));
        return cpu;
    }

    List<String> setsAfter(FakeKvm kvm, int from) {
        return kvm.calls.subList(from, kvm.calls.size()).stream().filter(c -> c.startsWith("KVM_SET_")).toList();
    }

    @Test
    void aVcpuRestoresEveryStructItWasCapturedWith() {
        FakeKvm a = new FakeKvm();
        a.unreadableMsrs.add(0x1a0);
        byte[] blob;
        try (KvmVcpu cpu = busyVcpu(a)) {
            blob = cpu.captureState();
        }
        assertThat(a.rememberedMsrs).as("the MSR KVM refused to read is dropped, for later captures too")
                .containsExactly(0x174, TSC, 0xc0000080, TSC_DEADLINE);

        FakeKvm b = new FakeKvm();
        try (KvmVcpu cpu = new KvmVcpu(b, 0, null)) {
            int before = b.calls.size();
            cpu.restoreState(blob);
            VCPU_STRUCTS.keySet().forEach(name ->
                    assertThat(b.structs(FD).get(name)).as(name).isEqualTo(a.structs(FD).get(name)));
            assertThat(b.structs(FD).get("CPUID2")).isEqualTo(a.structs(FD).get("CPUID2"));
            assertThat(b.msrs(FD)).as("a zero TSC deadline restores as the TSC, so the timer still fires")
                    .containsExactly(Map.entry(0x174, 0x10L), Map.entry(TSC, 0x1234_5678L),
                            Map.entry(0xc0000080, 0xd01L), Map.entry(TSC_DEADLINE, 0x1234_5678L));
            List<String> sets = setsAfter(b, before);
            assertThat(sets.indexOf("KVM_SET_LAPIC fd 101")).as("LAPIC before MSRs")
                    .isLessThan(sets.indexOf("KVM_SET_MSRS fd 101"));
            assertThat(sets.getFirst()).isEqualTo("KVM_SET_CPUID2 fd 101");
            assertThat(sets.getLast()).isEqualTo("KVM_SET_VCPU_EVENTS fd 101");
            assertThat(b.calls.getLast()).isEqualTo("KVM_KVMCLOCK_CTRL fd 101 0");
            assertThat(b.calls).noneMatch(c -> c.startsWith("KVM_SET_TSC_KHZ"));

            b.candidateMsrs = a.rememberedMsrs;
            b.msrs(FD).put(TSC_DEADLINE, 0L);
            assertThat(cpu.captureState()).as("captured again, the same blob").isEqualTo(blob);
        }
    }

    @Test
    void theTscFrequencyIsSetOnlyWhenItDiffersBeyondKvmsTolerance() {
        FakeKvm a = new FakeKvm();
        byte[] blob;
        try (KvmVcpu cpu = busyVcpu(a)) {
            blob = cpu.captureState();
        }
        FakeKvm near = new FakeKvm();
        near.defaultTscKhz = 2_000_400; // 200 ppm
        try (KvmVcpu cpu = new KvmVcpu(near, 0, null)) {
            cpu.restoreState(blob);
        }
        assertThat(near.calls).noneMatch(c -> c.startsWith("KVM_SET_TSC_KHZ"));
        FakeKvm far = new FakeKvm();
        far.defaultTscKhz = 2_001_000; // 500 ppm
        try (KvmVcpu cpu = new KvmVcpu(far, 0, null)) {
            cpu.restoreState(blob);
        }
        assertThat(far.calls).contains("KVM_SET_TSC_KHZ fd 101 2000000");
    }

    @Test
    void aLargeXsaveAreaIsCapturedWithXsave2() {
        FakeKvm a = new FakeKvm();
        a.xsave2Size = 8192;
        byte[] blob;
        try (KvmVcpu cpu = busyVcpu(a)) {
            a.structs(FD).put("XSAVE", randomBytes(8192));
            blob = cpu.captureState();
        }
        assertThat(a.calls).contains("KVM_GET_XSAVE2 fd 101");
        FakeKvm b = new FakeKvm();
        b.xsave2Size = 8192;
        try (KvmVcpu cpu = new KvmVcpu(b, 0, null)) {
            cpu.restoreState(blob);
        }
        assertThat(b.structs(FD).get("XSAVE")).isEqualTo(a.structs(FD).get("XSAVE"));
    }

    @Test
    void aSnapshotFromAnotherHostIsRefusedBeforeAnyRegisterIsSet() {
        FakeKvm a = new FakeKvm();
        byte[] blob;
        try (KvmVcpu cpu = busyVcpu(a)) {
            blob = cpu.captureState();
        }
        FakeKvm otherCpu = new FakeKvm();
        otherCpu.supportedCpuid = FakeKvm.cpuid(new int[][] {{0, 0, 0, 0x16, 0, 0, 0}});
        assertRefused(otherCpu, blob, SnapshotMismatchException.class, "vCPU 0: the snapshot's CPUID differs");
        FakeKvm biggerXsave = new FakeKvm();
        biggerXsave.xsave2Size = 8192;
        assertRefused(biggerXsave, blob, SnapshotMismatchException.class,
                "vCPU 0: the snapshot's XSAVE area has 4096 bytes, this host's has 8192");

        FakeKvm refuses = new FakeKvm();
        refuses.refusedMsrs.add(0xc0000080);
        try (KvmVcpu cpu = new KvmVcpu(refuses, 0, null)) {
            assertThatThrownBy(() -> cpu.restoreState(blob)).isInstanceOf(SnapshotMismatchException.class)
                    .hasMessage("vCPU 0: KVM refused MSR 0xc0000080 on restore");
        }
    }

    @Test
    void everyTruncationOfAVcpuBlobIsRefusedBeforeAnyRegisterIsSet() {
        FakeKvm a = new FakeKvm();
        byte[] blob;
        try (KvmVcpu cpu = busyVcpu(a)) {
            blob = cpu.captureState();
        }
        FakeKvm b = new FakeKvm();
        try (KvmVcpu cpu = new KvmVcpu(b, 0, null)) {
            int before = b.calls.size();
            for (int length = 0; length < blob.length; length++) {
                byte[] prefix = Arrays.copyOf(blob, length);
                assertThatThrownBy(() -> cpu.restoreState(prefix)).as("prefix of %d bytes", length)
                        .isInstanceOf(IgnitionException.class);
            }
            assertThat(setsAfter(b, before)).isEmpty();
        }
    }

    @Test
    void aCorruptMsrRecordIsNamed() {
        KvmStateCodec s = KvmStateCodec.decode(KvmStateCodec.Kind.VCPU, captured());
        s.put("msrs", new byte[17]);
        FakeKvm b = new FakeKvm();
        assertRefused(b, s.encode(), IgnitionException.class,
                "vCPU 0: MSR state is corrupt (17 bytes, not a multiple of 16)");
        KvmStateCodec shortRegs = KvmStateCodec.decode(KvmStateCodec.Kind.VCPU, captured());
        shortRegs.put("regs", new byte[100]);
        assertRefused(new FakeKvm(), shortRegs.encode(), IgnitionException.class,
                "KVM VCPU state 'regs' has 100 bytes, expected 144");
    }

    byte[] captured() {
        try (KvmVcpu cpu = busyVcpu(new FakeKvm())) {
            return cpu.captureState();
        }
    }

    void assertRefused(FakeKvm kvm, byte[] blob, Class<? extends Exception> type, String message) {
        try (KvmVcpu cpu = new KvmVcpu(kvm, 0, null)) {
            int before = kvm.calls.size();
            assertThatThrownBy(() -> cpu.restoreState(blob)).isInstanceOf(type).hasMessageStartingWith(message);
            assertThat(setsAfter(kvm, before)).isEmpty();
        }
    }

    // ---- VM ----

    FakeKvm vmWithState() {
        FakeKvm a = new FakeKvm();
        a.structs(VM_FD).put("PIT2", randomBytes(112));
        a.structs(VM_FD).put("CLOCK", randomBytes(48));
        for (int chip = 0; chip < 3; chip++) {
            byte[] c = randomBytes(520);
            ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(0, chip);
            a.structs(VM_FD).put("IRQCHIP" + chip, c);
        }
        return a;
    }

    @Test
    void theVmStateRestoresPitClockValueAndIrqchips() {
        FakeKvm a = vmWithState();
        byte[] blob = KvmVm.captureState(a, VM_FD);
        FakeKvm b = new FakeKvm();
        KvmVm.restoreState(b, VM_FD, blob);
        assertThat(b.structs(VM_FD).get("PIT2")).isEqualTo(a.structs(VM_FD).get("PIT2"));
        byte[] clock = b.structs(VM_FD).get("CLOCK");
        assertThat(Arrays.copyOf(clock, 8)).isEqualTo(Arrays.copyOf(a.structs(VM_FD).get("CLOCK"), 8));
        assertThat(Arrays.copyOfRange(clock, 8, 48)).as("this host's clock flags are not carried").containsOnly(0);
        for (int chip = 0; chip < 3; chip++) {
            assertThat(b.structs(VM_FD).get("IRQCHIP" + chip)).isEqualTo(a.structs(VM_FD).get("IRQCHIP" + chip));
        }
        assertThat(KvmVm.captureState(b, VM_FD)).isEqualTo(blob);
    }

    @Test
    void aVmBlobThatDoesNotFitIsRefusedBeforeAnyIoctl() {
        byte[] blob = KvmVm.captureState(vmWithState(), VM_FD);
        FakeKvm b = new FakeKvm();
        for (int length = 0; length < blob.length; length++) {
            byte[] prefix = Arrays.copyOf(blob, length);
            assertThatThrownBy(() -> KvmVm.restoreState(b, VM_FD, prefix)).isInstanceOf(IgnitionException.class);
        }
        KvmStateCodec s = KvmStateCodec.decode(KvmStateCodec.Kind.VM, blob);
        byte[] swapped = s.get("irqchip2", 520).clone();
        swapped[0] = 1;
        s.put("irqchip2", swapped);
        assertThatThrownBy(() -> KvmVm.restoreState(b, VM_FD, s.encode())).isInstanceOf(IgnitionException.class)
                .hasMessage("KVM VM state: irqchip record 2 is corrupt");
        assertThatThrownBy(() -> KvmVm.restoreState(b, VM_FD, captured())).isInstanceOf(IgnitionException.class)
                .hasMessage("KVM VM state: expected a record 'KVVM', found 'KVCP'");
        assertThat(b.calls).isEmpty();
    }
}
