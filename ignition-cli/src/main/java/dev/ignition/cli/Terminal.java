package dev.ignition.cli;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * Puts an interactive terminal into character mode (no line buffering, no echo, no signal keys:
 * Ctrl-C goes to the guest) with {@code stty}, and restores it on close. Does nothing when input
 * is not a terminal.
 */
final class Terminal implements AutoCloseable {
    private final String saved;

    private Terminal(String saved) {
        this.saved = saved;
    }

    static Terminal rawIfInteractive() {
        if (System.console() == null || !new File("/dev/tty").canRead()) {
            return new Terminal("");
        }
        try {
            String saved = stty("-g").strip();
            stty("-icanon", "-echo", "-isig", "-ixon", "-iexten", "min", "1");
            Terminal t = new Terminal(saved);
            Runtime.getRuntime().addShutdownHook(new Thread(t::close, "ignition-restore-tty"));
            return t;
        } catch (IOException e) {
            System.err.println("[ignition] cannot switch the terminal to character mode (" + e.getMessage()
                    + "); input goes to the guest line by line");
            return new Terminal("");
        }
    }

    /** The line end to print runner messages with. */
    String newline() {
        return saved.isEmpty() ? System.lineSeparator() : "\r\n";
    }

    private static String stty(String... args) throws IOException {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "stty";
        System.arraycopy(args, 0, cmd, 1, args.length);
        Process p = new ProcessBuilder(cmd).redirectInput(new File("/dev/tty")).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.waitFor() != 0) {
                throw new IOException("stty " + String.join(" ", args) + " failed: " + out.strip());
            }
            return out;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    @Override
    public synchronized void close() {
        if (!saved.isEmpty()) {
            try {
                stty(saved);
            } catch (IOException e) {
                System.err.println("[ignition] could not restore the terminal: run 'stty sane'");
            }
        }
    }
}
