package dev.ignition.kvm.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.internal.posix.Libc;
import dev.ignition.testkit.RequiresBackend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

class KvmShellsTest {
    @Test
    void poolSizeComesFromThePropertyWithinItsRange() {
        assertThat(KvmShells.poolSize(null)).isEqualTo(2);
        assertThat(KvmShells.poolSize(" 0 ")).isZero();
        assertThat(KvmShells.poolSize("8")).isEqualTo(8);
        assertThat(KvmShells.poolSize("64")).isEqualTo(64);
        assertThat(KvmShells.poolSize("65")).isEqualTo(2);
        assertThat(KvmShells.poolSize("-1")).isEqualTo(2);
        assertThat(KvmShells.poolSize("many")).isEqualTo(2);
    }

    /** Whether {@code fd} is a KVM VM descriptor of this process. */
    private static boolean isVm(int fd) {
        try {
            return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString().contains("kvm-vm");
        } catch (IOException e) {
            return false;
        }
    }

    /** How many KVM VM descriptors this process holds. */
    private static long vmFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(f -> {
                try {
                    return Files.readSymbolicLink(f).toString().contains("kvm-vm");
                } catch (IOException e) {
                    return false; // closed meanwhile
                }
            }).count();
        }
    }

    /** Whether {@code fd} is open in this process. */
    private static boolean open(int fd) {
        return Files.exists(Path.of("/proc/self/fd/" + fd));
    }

    @Test
    @Tag("kvm")
    @RequiresBackend("kvm")
    void shellsAreReadyVmsAndRetiredOnesAreClosedInTheBackground() throws Exception {
        assertThat(KvmProvider.awaitBackgroundWork(Duration.ofSeconds(30))).isTrue(); // no other VM fds in flux
        int kvmFd = Libc.open("/dev/kvm", Libc.O_RDWR | Libc.O_CLOEXEC);
        try {
            KvmShells shells = new KvmShells(kvmFd, 3);
            KvmShells.Shell first = shells.take(); // made on the spot: nothing was ready
            assertThat(shells.awaitIdle(Duration.ofSeconds(30))).isTrue();
            assertThat(shells.readyCount()).isEqualTo(3);
            KvmShells.Shell second = shells.take(); // from the pool
            assertThat(open(first.vmFd()) && open(second.vmFd())).isTrue();
            // A shell has its irqchip: creating it again fails (EEXIST).
            assertThat(Libc.ioctlRaw(second.vmFd(), KvmIoctl.CREATE_IRQCHIP.request, 0)).isNegative();
            assertThat(shells.awaitIdle(Duration.ofSeconds(30))).isTrue();
            long vms = vmFds(); // the process-wide pool is idle and no other VM lives
            shells.retire(first.vmFd());
            shells.retire(second.vmFd());
            assertThat(shells.awaitIdle(Duration.ofSeconds(30))).isTrue();
            assertThat(vmFds()).isEqualTo(vms - 2);
            assertThat(shells.readyCount()).isEqualTo(3);
        } finally {
            Libc.close(kvmFd);
        }
    }

    @Test
    @Tag("kvm")
    @RequiresBackend("kvm")
    void withoutAPoolShellsAreMadeAndClosedOnTheCallersThread() throws Exception {
        assertThat(KvmProvider.awaitBackgroundWork(Duration.ofSeconds(30))).isTrue(); // no other VM fds in flux
        int kvmFd = Libc.open("/dev/kvm", Libc.O_RDWR | Libc.O_CLOEXEC);
        try {
            KvmShells shells = new KvmShells(kvmFd, 0);
            KvmShells.Shell s = shells.take();
            assertThat(open(s.vmFd())).isTrue();
            shells.retire(s.vmFd());
            assertThat(isVm(s.vmFd())).isFalse(); // closed at once, on this thread
            assertThat(shells.readyCount()).isZero();
            assertThat(shells.awaitIdle(Duration.ofSeconds(1))).isTrue();
        } finally {
            Libc.close(kvmFd);
        }
    }
}
