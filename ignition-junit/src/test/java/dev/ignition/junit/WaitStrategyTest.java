package dev.ignition.junit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ignition.IgnitionException;
import dev.ignition.VirtualMachine;
import dev.ignition.VmExit;
import dev.ignition.device.Vsock;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Proxy;
import java.net.ConnectException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/** The strategies that need no console, on a stand-in VM (the console ones run in {@link VmExtensionTest}). */
class WaitStrategyTest {
    /** A VM that answers only vsock() and exit(); enough for the strategies. */
    static VirtualMachine vm(@Nullable Vsock vsock, Optional<VmExit> exit) {
        return (VirtualMachine) Proxy.newProxyInstance(VirtualMachine.class.getClassLoader(),
                new Class<?>[] {VirtualMachine.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "vsock" -> Optional.ofNullable(vsock);
                    case "exit" -> exit;
                    case "toString" -> "stand-in VM";
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    /** Refuses the first {@code refusals} connections, then accepts; records each connection's close. */
    static final class FakeVsock implements Vsock {
        final int refusals;
        final List<Integer> ports = new ArrayList<>();
        final AtomicInteger closed = new AtomicInteger();

        FakeVsock(int refusals) {
            this.refusals = refusals;
        }

        @Override
        public long guestCid() {
            return 3;
        }

        @Override
        public Listener listen(int port) {
            throw new UnsupportedOperationException();
        }

        @Override
        public Connection connect(int guestPort, Duration timeout) throws IOException {
            ports.add(guestPort);
            if (ports.size() <= refusals) {
                throw new ConnectException("connection refused by guest port " + guestPort);
            }
            return new Connection() {
                @Override
                public int hostPort() {
                    return 1024;
                }

                @Override
                public int guestPort() {
                    return guestPort;
                }

                @Override
                public InputStream input() {
                    return InputStream.nullInputStream();
                }

                @Override
                public OutputStream output() {
                    return OutputStream.nullOutputStream();
                }

                @Override
                public void close() {
                    closed.incrementAndGet();
                }
            };
        }
    }

    @Test
    void vsockPortRetriesUntilTheGuestAcceptsThenClosesTheConnection() {
        FakeVsock vsock = new FakeVsock(3);
        WaitStrategy.vsockPort(5000).await(vm(vsock, Optional.empty()), Duration.ofSeconds(10));
        assertThat(vsock.ports).containsExactly(5000, 5000, 5000, 5000);
        assertThat(vsock.closed).hasValue(1);
    }

    @Test
    void vsockPortGivesUpWithTheLastRefusal() {
        FakeVsock vsock = new FakeVsock(Integer.MAX_VALUE);
        assertThatThrownBy(() -> WaitStrategy.vsockPort(5000).await(vm(vsock, Optional.empty()), Duration.ofMillis(100)))
                .isInstanceOf(IgnitionException.class)
                .hasMessage("the guest accepted no vsock connection on port 5000 within PT0.1S; last attempt:"
                        + " connection refused by guest port 5000");
        assertThat(vsock.ports.size()).isGreaterThan(1);
    }

    @Test
    void vsockPortStopsWhenTheVmExits() {
        FakeVsock vsock = new FakeVsock(Integer.MAX_VALUE);
        VirtualMachine exited = vm(vsock, Optional.of(new VmExit.Shutdown("poweroff")));
        assertThatThrownBy(() -> WaitStrategy.vsockPort(7).await(exited, Duration.ofSeconds(30)))
                .hasMessageStartingWith("the VM exited (")
                .hasMessageEndingWith(") before its vsock port 7 accepted a connection");
        assertThat(vsock.ports).hasSize(1);
    }

    @Test
    void vsockPortNeedsAVsockDevice() {
        assertThatThrownBy(() -> WaitStrategy.vsockPort(5000).await(vm(null, Optional.empty()), Duration.ofSeconds(1)))
                .hasMessage("cannot wait for vsock port 5000: the VM has no vsock device; add one with"
                        + " configure(b -> b.vsock(3))");
    }

    @Test
    void conditionIsPolledUntilItHolds() {
        AtomicInteger polls = new AtomicInteger();
        WaitStrategy.until("polled thrice", v -> polls.incrementAndGet() == 3)
                .await(vm(null, Optional.empty()), Duration.ofSeconds(10));
        assertThat(polls).hasValue(3);
    }

    @Test
    void aConditionThatNeverHoldsTimesOutNamingIt() {
        assertThatThrownBy(() -> WaitStrategy.until("the counter passed 10", v -> false)
                .await(vm(null, Optional.empty()), Duration.ofMillis(50)))
                .isInstanceOf(IgnitionException.class)
                .hasMessage("'the counter passed 10' was not true within PT0.05S");
    }

    @Test
    void invalidStrategiesAreRefusedWhenDeclared() {
        assertThatThrownBy(() -> WaitStrategy.consoleText("")).hasMessageContaining("must not be empty");
        assertThatThrownBy(() -> WaitStrategy.vsockPort(-1)).hasMessage("a vsock port is 0 or more, was -1");
    }
}
