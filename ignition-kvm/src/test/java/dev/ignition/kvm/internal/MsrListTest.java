package dev.ignition.kvm.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.NativeCallException;
import dev.ignition.internal.posix.Errno;
import org.junit.jupiter.api.Test;

/** Which of the kernel's MSRs a snapshot saves, read through {@link FakeKvm}. */
class MsrListTest {
    static final int KVM_FD = 7;

    @Test
    void keepsSerializableMsrsWithTheTscDeadlineLast() {
        FakeKvm kvm = new FakeKvm();
        kvm.msrIndexList = new int[] {0x10, MsrList.IA32_TSC_DEADLINE, 0x17b, 0x174, 0xc0000080, 0x12345, 0x4b564d01};
        assertThat(MsrList.fromKernel(kvm, KVM_FD))
                .containsExactly(0x10, 0x174, 0xc0000080, 0x4b564d01, MsrList.IA32_TSC_DEADLINE);
        assertThat(kvm.calls).containsExactly("KVM_GET_MSR_INDEX_LIST fd 7", "KVM_GET_MSR_INDEX_LIST fd 7");
    }

    @Test
    void aShortListAndAnErrorThatNamesTheCall() {
        FakeKvm kvm = new FakeKvm();
        kvm.msrIndexList = new int[] {0x174};
        assertThat(MsrList.fromKernel(kvm, KVM_FD)).containsExactly(0x174);
        kvm.failures.put(KvmIoctl.GET_MSR_INDEX_LIST, Errno.EFAULT);
        assertThatThrownBy(() -> MsrList.fromKernel(kvm, KVM_FD)).isInstanceOf(NativeCallException.class)
                .hasMessageContaining("KVM_GET_MSR_INDEX_LIST").hasMessageContaining("EFAULT");
    }
}
