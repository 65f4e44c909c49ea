package dev.ignition.guest;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A serial console in front of a real shell process, as hostile as a guest console gets: it
 * echoes input, turns LF into CRLF, handles Ctrl-U, and injects kernel log lines into the output
 * — between lines, and after every other dump request once in the middle of a line, tearing it
 * (a kernel message is one event: it tears one line, not every line of a burst).
 */
final class FakeTerminal implements AutoCloseable {
    static final String[] KERNEL_LINES = {
        "[    1.234567] random: crng init done\n",
        "[    2.000001] virtio_blk virtio0: [vda] 2048 512-byte logical blocks (1.05 MB/1.00 MiB)\n",
        "[   12.345678] IGN-0123456789abcdef-o 0000000 de ad be ef\n",
        "[   13.000000] clocksource: tsc: mask: 0xffffffffffffffff max_cycles: 0x1cd42e4dffb, max_idle_ns: 440795\n",
        "[   99.999999] 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff\n",
    };

    private final Process process;
    private final OutputStream stdin;
    private final ConsoleBuffer console;
    private final Random random;
    private final double noise;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private final Thread pump;
    private final AtomicInteger dumpRequests = new AtomicInteger();
    private boolean tornSinceInput;
    final AtomicInteger tears = new AtomicInteger();
    final AtomicInteger noiseLines = new AtomicInteger();

    /** @param noise probability that an output chunk gets a kernel line injected */
    FakeTerminal(String busybox, long seed, double noise) throws IOException {
        this.random = new Random(seed);
        this.noise = noise;
        this.process = new ProcessBuilder(busybox, "sh").redirectErrorStream(true).start();
        this.stdin = process.getOutputStream();
        this.console = new ConsoleBuffer(this::input);
        this.pump = Thread.ofPlatform().daemon().name("fake-terminal").start(this::pump);
    }

    ConsoleLink link() {
        return console;
    }

    private synchronized void input(byte[] bytes) {
        try {
            for (byte b : bytes) {
                if (b == 0x15) { // Ctrl-U: kill the line
                    line.reset();
                    continue;
                }
                if (b == 0x03) { // Ctrl-C: the fake has no job control; drop it
                    continue;
                }
                output(new byte[] {b}, false); // echo
                if (b == '\n') {
                    String text = line.toString(StandardCharsets.UTF_8);
                    if (text.contains("od -Ad")) {
                        dumpRequests.incrementAndGet();
                    }
                    tornSinceInput = false;
                    stdin.write(line.toByteArray());
                    stdin.write('\n');
                    stdin.flush();
                    line.reset();
                } else {
                    line.write(b);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void pump() {
        InputStream out = process.getInputStream();
        byte[] buf = new byte[4096];
        try {
            int n;
            while ((n = out.read(buf)) > 0) {
                byte[] chunk = Arrays.copyOf(buf, n);
                output(chunk, true);
            }
        } catch (IOException e) {
            // process ended
        }
    }

    /** Writes to the console with onlcr translation, maybe injecting a kernel line. */
    private synchronized void output(byte[] chunk, boolean mayInject) {
        int injectAt = -1;
        if (mayInject && random.nextDouble() < noise) {
            // Tearing a line (injecting off a line boundary) only on odd dump requests, so a retry
            // of the dump always gets through: the session must cope with the torn ones.
            boolean tear = dumpRequests.get() % 2 == 1 && !tornSinceInput;
            if (tear) {
                injectAt = random.nextInt(chunk.length + 1);
            } else {
                for (int i = 0; i < chunk.length && injectAt < 0; i++) {
                    if (chunk[i] == '\n' && random.nextBoolean()) {
                        injectAt = i + 1;
                    }
                }
            }
            if (injectAt > 0 && injectAt < chunk.length && chunk[injectAt - 1] != '\n') {
                tears.incrementAndGet();
                tornSinceInput = true;
            }
        }
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (int i = 0; i <= chunk.length; i++) {
            if (i == injectAt) {
                byte[] k = KERNEL_LINES[random.nextInt(KERNEL_LINES.length)].getBytes(StandardCharsets.US_ASCII);
                crlf(o, k);
                noiseLines.incrementAndGet();
            }
            if (i < chunk.length) {
                crlf(o, new byte[] {chunk[i]});
            }
        }
        console.accept(o.toByteArray());
    }

    private static void crlf(ByteArrayOutputStream o, byte[] bytes) {
        for (byte b : bytes) {
            if (b == '\n') {
                o.write('\r');
            }
            o.write(b);
        }
    }

    @Override
    public void close() {
        process.destroyForcibly();
        try {
            pump.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
