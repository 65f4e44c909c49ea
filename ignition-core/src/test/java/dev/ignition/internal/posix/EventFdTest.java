package dev.ignition.internal.posix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** eventfd(2) through FFM: counting signals, non-blocking reads, any-thread writes, close. */
class EventFdTest {
    @Test
    void supportedExactlyOnLinux() {
        assertThat(EventFd.supported()).isEqualTo(Libc.OS == Libc.Os.LINUX);
    }

    @Test
    void signalsAddUpAndAReadResetsTheCounter() {
        assumeTrue(EventFd.supported(), "eventfd is Linux-only");
        try (EventFd e = EventFd.open()) {
            assertThat(e.fd()).isNotNegative();
            assertThat(e.tryRead()).as("nothing signalled yet; the read does not block").isZero();
            e.signal();
            e.signal();
            assertThat(e.tryRead()).isEqualTo(2);
            assertThat(e.tryRead()).isZero();
        }
    }

    @Test
    void signalsFromOtherThreadsAreCounted() throws Exception {
        assumeTrue(EventFd.supported(), "eventfd is Linux-only");
        try (EventFd e = EventFd.open()) {
            int threads = 4;
            int each = 250;
            CountDownLatch done = new CountDownLatch(threads);
            for (int t = 0; t < threads; t++) {
                Thread.ofPlatform().start(() -> {
                    for (int i = 0; i < each; i++) {
                        e.signal();
                    }
                    done.countDown();
                });
            }
            assertThat(done.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(e.tryRead()).isEqualTo(threads * each);
        }
    }

    @Test
    void closeIsIdempotentAndFreesTheDescriptor() throws Exception {
        assumeTrue(EventFd.supported(), "eventfd is Linux-only");
        EventFd e = EventFd.open();
        Path link = Path.of("/proc/self/fd/" + e.fd());
        assertThat(Files.readSymbolicLink(link).toString()).contains("eventfd");
        e.close();
        e.close();
        boolean stillEventfd;
        try {
            stillEventfd = Files.readSymbolicLink(link).toString().contains("eventfd");
        } catch (NoSuchFileException gone) {
            stillEventfd = false;
        }
        assertThat(stillEventfd).as("descriptor closed (or reused by something else)").isFalse();
    }
}
