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

    private static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
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
        int kvmFd = Libc.open("/dev/kvm", Libc.O_RDWR | Libc.O_CLOEXEC);
        try {
            KvmShells shells = new KvmShells(kvmFd, 3);
            KvmShells.Shell first = shells.take(); // made on the spot: nothing was ready
            assertThat(shells.awaitIdle(Duration.ofSeconds(30))).isTrue();
            long withPool = openFds();
            KvmShells.Shell second = shells.take(); // from the pool
            // A shell has its irqchip: creating it again fails with EEXIST.
            assertThat(Libc.ioctlRaw(second.vmFd(), KvmIoctl.CREATE_IRQCHIP.request, 0)).isNegative();
            shells.retire(first.vmFd());
            shells.retire(second.vmFd());
            assertThat(shells.awaitIdle(Duration.ofSeconds(30))).isTrue();
            assertThat(open(first.vmFd()) && open(second.vmFd())).isFalse();
            // Two retired, one taken from the pool and made again: one descriptor fewer.
            assertThat(openFds()).isEqualTo(withPool - 1);
        } finally {
            Libc.close(kvmFd);
        }
    }

    @Test
    @Tag("kvm")
    @RequiresBackend("kvm")
    void withoutAPoolShellsAreMadeAndClosedOnTheCallersThread() throws Exception {
        int kvmFd = Libc.open("/dev/kvm", Libc.O_RDWR | Libc.O_CLOEXEC);
        try {
            KvmShells shells = new KvmShells(kvmFd, 0);
            long before = openFds();
            KvmShells.Shell s = shells.take();
            assertThat(openFds()).isEqualTo(before + 1);
            shells.retire(s.vmFd());
            assertThat(openFds()).isEqualTo(before); // closed at once, no background thread involved
            assertThat(Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().equals("ignition-kvm-shells") && t.isAlive())
                    .count()).isLessThanOrEqualTo(1); // at most the process-wide pool's own thread
        } finally {
            Libc.close(kvmFd);
        }
    }
}
