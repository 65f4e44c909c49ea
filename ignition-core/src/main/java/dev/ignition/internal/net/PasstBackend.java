package dev.ignition.internal.net;

import dev.ignition.Network;
import dev.ignition.NetworkUnavailableException;
import java.io.EOFException;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * User-mode networking through <a href="https://passt.top">passt</a>: one {@code passt} process
 * per VM, started in the foreground on a UNIX socket in a private temporary directory, speaking
 * QEMU's stream protocol there (each frame preceded by its length, 4 bytes big-endian). TCP
 * forwards listen on {@code 127.0.0.1} only. The process runs with {@code --one-off}, so it also
 * ends when the socket closes; {@link #close} destroys it and deletes the directory.
 *
 * <p>gvproxy (macOS) speaks the same protocol with {@code -listen-qemu}; it is not wired up.
 */
public final class PasstBackend implements FrameBackend {
    private static final Logger LOG = LoggerFactory.getLogger(PasstBackend.class);
    /** The executable to run; overrides the search of {@code PATH}. */
    public static final String BINARY_PROPERTY = "ignition.passt";
    /** passt's own frames are at most 64 KiB; a longer length means the stream is out of step. */
    static final int MAX_STREAM_FRAME = 65_535 + 14;
    static final Duration START_TIMEOUT = Duration.ofSeconds(10);

    private final Process process;
    private final Path directory;
    private final Path socket;
    private final SocketChannel channel;
    private final List<Network.PortForward> forwards;
    private final Object writeLock = new Object();
    private volatile boolean closed;
    private @Nullable Thread reader;

    private PasstBackend(Process process, Path directory, Path socket, SocketChannel channel,
            List<Network.PortForward> forwards) {
        this.process = process;
        this.directory = directory;
        this.socket = socket;
        this.channel = channel;
        this.forwards = List.copyOf(forwards);
    }

    /**
     * Starts passt with {@code forwards} (host port 0 becomes a free port) and connects to it.
     *
     * @throws NetworkUnavailableException if passt is not installed or does not come up
     */
    public static PasstBackend start(List<Network.PortForward> forwards) {
        Path binary = findBinary();
        List<Network.PortForward> resolved = new ArrayList<>();
        for (Network.PortForward f : forwards) {
            resolved.add(f.hostPort() == 0 ? new Network.PortForward(freePort(), f.guestPort()) : f);
        }
        Path dir;
        try {
            dir = Files.createTempDirectory("ignition-passt");
        } catch (IOException e) {
            throw new NetworkUnavailableException("cannot create a directory for passt's socket: " + e.getMessage(), e);
        }
        Path socket = dir.resolve("passt.socket");
        Path log = dir.resolve("passt.log");
        List<String> command = new ArrayList<>(List.of(binary.toString(), "--foreground", "--one-off", "--quiet",
                "--mtu", "1500", "--socket", socket.toString()));
        if (ownedByRoot(dir)) {
            // As root, passt switches to "nobody", which could not bind in the private directory.
            command.addAll(List.of("--runas", "0"));
        }
        for (Network.PortForward f : resolved) {
            command.addAll(List.of("--tcp-ports", "127.0.0.1/" + f.hostPort() + ":" + f.guestPort()));
        }
        Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        } catch (IOException e) {
            deleteTree(dir);
            throw new NetworkUnavailableException("cannot start " + binary + ": " + e.getMessage(), e);
        }
        try {
            SocketChannel channel = connect(process, socket, log);
            LOG.debug("passt (pid {}) on {} with TCP forwards {}", process.pid(), socket, resolved);
            return new PasstBackend(process, dir, socket, channel, resolved);
        } catch (RuntimeException e) {
            stop(process);
            deleteTree(dir);
            throw e;
        }
    }

    private static SocketChannel connect(Process process, Path socket, Path log) {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new NetworkUnavailableException("passt exited with status " + process.exitValue()
                        + " before accepting a connection: " + tail(log));
            }
            if (Files.exists(socket)) {
                try {
                    SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
                    try {
                        c.connect(UnixDomainSocketAddress.of(socket));
                        return c;
                    } catch (IOException e) {
                        c.close();
                        throw e;
                    }
                } catch (IOException e) {
                    last = e; // bound but not listening yet
                }
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new NetworkUnavailableException("interrupted while waiting for passt to start", e);
            }
        }
        throw new NetworkUnavailableException("passt did not accept a connection on " + socket + " within "
                + START_TIMEOUT.toSeconds() + " s" + (last != null ? " (" + last.getMessage() + ")" : "") + ": "
                + tail(log));
    }

    /** The passt executable: {@value #BINARY_PROPERTY} if set, else the first on {@code PATH}. */
    static Path findBinary() {
        return findBinary(System.getProperty(BINARY_PROPERTY), System.getenv("PATH"));
    }

    static Path findBinary(@Nullable String configured, @Nullable String path) {
        if (configured != null && !configured.isBlank()) {
            Path p = Path.of(configured);
            if (!Files.isExecutable(p)) {
                throw new NetworkUnavailableException("-D" + BINARY_PROPERTY + "=" + configured
                        + " is not an executable file");
            }
            return p;
        }
        for (String dir : (path == null ? "" : path).split(File.pathSeparator)) {
            if (!dir.isEmpty()) {
                Path p = Path.of(dir, "passt");
                if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        throw new NetworkUnavailableException("user-mode networking needs passt, which was not found on PATH: install"
                + " the package 'passt' (Debian/Ubuntu: apt-get install passt; Fedora: dnf install passt), or point -D"
                + BINARY_PROPERTY + " at the executable");
    }

    /** A port on 127.0.0.1 that is free now (passt binds it a moment later). */
    static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new NetworkUnavailableException("cannot find a free TCP port on 127.0.0.1: " + e.getMessage(), e);
        }
    }

    private static boolean ownedByRoot(Path dir) {
        try {
            return Integer.valueOf(0).equals(Files.getAttribute(dir, "unix:uid"));
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return false;
        }
    }

    private static String tail(Path log) {
        try {
            String s = Files.readString(log).strip();
            return s.isEmpty() ? "(no output)" : s.length() > 2000 ? "…" + s.substring(s.length() - 2000) : s;
        } catch (IOException e) {
            return "(no output)";
        }
    }

    /** The TCP forwards with the host ports passt listens on. */
    @Override
    public List<Network.PortForward> forwards() {
        return forwards;
    }

    /** The passt process, for tests. */
    Process process() {
        return process;
    }

    /** The UNIX socket passt listens on. */
    public Path socket() {
        return socket;
    }

    @Override
    public String describe() {
        return "passt (" + socket + ")";
    }

    @Override
    public synchronized void start(Receiver receiver) {
        if (reader != null) {
            throw new IllegalStateException("passt backend already started");
        }
        Thread t = Thread.ofPlatform().daemon().name("ignition-net-passt-" + process.pid()).unstarted(() -> read(receiver));
        reader = t;
        t.start();
    }

    private void read(Receiver receiver) {
        ByteBuffer length = ByteBuffer.allocate(4);
        try {
            while (!closed) {
                length.clear();
                readFully(length);
                int n = length.getInt(0);
                if (n < 0 || n > MAX_STREAM_FRAME) {
                    LOG.warn("passt sent a frame length of {}; the stream is out of step, stopping", n);
                    return;
                }
                ByteBuffer frame = ByteBuffer.allocate(n);
                readFully(frame);
                if (!receiver.frame(frame.array())) {
                    return;
                }
            }
        } catch (IOException e) {
            if (!closed) {
                LOG.warn("passt connection ended: {}", e.toString());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void readFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                throw new EOFException("passt closed the connection");
            }
        }
    }

    @Override
    public void send(byte[] frame) {
        if (closed) {
            return;
        }
        ByteBuffer b = ByteBuffer.allocate(4 + frame.length).putInt(frame.length).put(frame).flip();
        synchronized (writeLock) {
            try {
                while (b.hasRemaining()) {
                    channel.write(b);
                }
            } catch (IOException e) {
                if (!closed) {
                    LOG.debug("frame to passt dropped: {}", e.toString());
                }
            }
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            channel.close(); // ends the reader, and passt (--one-off)
        } catch (IOException e) {
            LOG.debug("closing the passt socket: {}", e.toString());
        }
        stop(process);
        Thread t;
        synchronized (this) {
            t = reader;
        }
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(TimeUnit.SECONDS.toMillis(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        deleteTree(directory);
    }

    private static void stop(Process p) {
        p.destroy();
        try {
            if (!p.waitFor(2, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(2, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            LOG.debug("deleting {}: {}", dir, e.toString());
        }
    }
}
