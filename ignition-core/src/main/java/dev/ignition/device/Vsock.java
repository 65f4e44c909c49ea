package dev.ignition.device;

import dev.ignition.VirtualMachine;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.time.Duration;

/**
 * The host end of a VM's virtio-vsock device: stream connections between Java and the guest's
 * {@code AF_VSOCK} sockets. The host is CID {@value #HOST_CID}; the guest has the CID given to
 * {@link VirtualMachine.Builder#vsock(long)}.
 *
 * <pre>{@code
 * try (VirtualMachine vm = VirtualMachine.builder().guest(guest).vsock(3).build()) {
 *     Vsock vsock = vm.vsock().orElseThrow();
 *     try (Vsock.Listener listener = vsock.listen(5000)) {   // guest: connect(VMADDR_CID_HOST, 5000)
 *         vm.start();
 *         try (Vsock.Connection c = listener.accept(Duration.ofSeconds(30))) {
 *             c.output().write("hello\n".getBytes());
 *             int b = c.input().read();
 *         }
 *     }
 *     try (Vsock.Connection c = vsock.connect(6000, Duration.ofSeconds(5))) { ... } // a guest listener
 * }
 * }</pre>
 *
 * <p>Connections do not survive a snapshot: a restored guest is told its transport was reset
 * and sees its sockets reset. All methods may be called from any thread.
 */
public interface Vsock {
    /** The host's context id (VMADDR_CID_HOST). */
    int HOST_CID = 2;

    /** The guest's context id. */
    long guestCid();

    /**
     * Accepts guest connections to host port {@code port}.
     *
     * @throws IllegalStateException if something already listens there
     */
    Listener listen(int port);

    /**
     * Connects to a guest listening on {@code guestPort}.
     *
     * @throws ConnectException if the guest refused (nothing listens there)
     * @throws SocketTimeoutException if the guest did not answer within {@code timeout}
     * @throws IOException if the device was reset or closed meanwhile
     */
    Connection connect(int guestPort, Duration timeout) throws IOException;

    /** A host port guests connect to. Closing it refuses further connections. */
    interface Listener extends AutoCloseable {
        int port();

        /**
         * The next guest connection.
         *
         * @throws SocketTimeoutException if none arrived within {@code timeout}
         * @throws IOException if the listener or the device was closed
         */
        Connection accept(Duration timeout) throws IOException;

        @Override
        void close();
    }

    /**
     * One stream connection. {@link #input()} ends (-1) when the guest shuts down its sending side
     * or the connection is reset; {@link #output()} throws once the guest can no longer receive.
     * {@link #close()} sends what was written, then shuts the connection down.
     */
    interface Connection extends AutoCloseable {
        int hostPort();

        int guestPort();

        InputStream input();

        OutputStream output();

        @Override
        void close();
    }
}
