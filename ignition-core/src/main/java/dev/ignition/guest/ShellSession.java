package dev.ignition.guest;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Runs commands in a guest's shell over its serial console and returns their exact output.
 *
 * <pre>{@code
 * ShellSession shell = ShellSession.open(link, Duration.ofSeconds(30));
 * ExecResult r = shell.exec("uname -r");
 * assert r.exitStatus() == 0;
 * String release = r.stdoutText().strip();
 * }</pre>
 *
 * <p>A console carries kernel messages, prompts and echoed input mixed with command output, and
 * a terminal mangles bytes (CR/LF translation, control characters). So a command never writes to
 * the console directly: {@link #exec} stores the command in a file in the guest, runs it with
 * stdout, stderr and the exit status redirected to files, then has the guest dump those files as
 * hex lines tagged with a random per-command id, each line carrying its offset, plus an MD5 per
 * file. Lines without the tag (kernel messages, prompts, echo) are ignored; a tagged line that a
 * kernel message tore apart, a missing line or a wrong checksum makes the session ask for the dump
 * again. Progress markers are printed twice, so one torn copy does not stall the session.
 *
 * <p>The guest needs a POSIX shell with {@code printf}, {@code od} ({@code -Ad -v -tx1 -w32}),
 * {@code sed} and {@code md5sum} (busybox has them) and a writable scratch directory. Sessions are
 * thread-safe; commands run one at a time.
 */
public final class ShellSession {
    /** Timeout of {@link #exec(String)}. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);
    /** Longest piece of escaped command text per input line: short lines survive line editors and tty buffers. */
    static final int CHUNK = 500;
    static final int DUMP_ATTEMPTS = 3;
    private static final String TAG = "IGN";
    private static final Pattern SAFE_DIR = Pattern.compile("/[A-Za-z0-9._/-]*");
    private static final Pattern DATA = Pattern.compile("(\\d{1,10})((?: [0-9a-f]{2}){0,32})");
    private static final Pattern MD5 = Pattern.compile("md5 ([0-9a-f]{32})(?: +-)?");

    private final ConsoleLink link;
    private final String scratchDir;
    private final SecureRandom random = new SecureRandom();

    private ShellSession(ConsoleLink link, String scratchDir) {
        this.link = link;
        this.scratchDir = scratchDir;
    }

    /** Opens a session with scratch files in {@code /tmp}; see {@link #open(ConsoleLink, Duration, String)}. */
    public static ShellSession open(ConsoleLink link, Duration timeout) {
        return open(link, timeout, "/tmp");
    }

    /**
     * Waits until the guest's shell answers (re-asking with growing pauses, since input sent
     * before the shell reads its terminal is lost), then turns terminal echo off.
     *
     * @param scratchDir a writable guest directory for the command and output files
     * @throws ShellException if no shell answered within {@code timeout}
     */
    public static ShellSession open(ConsoleLink link, Duration timeout, String scratchDir) {
        Objects.requireNonNull(link, "link");
        if (!SAFE_DIR.matcher(scratchDir).matches()) {
            throw new IllegalArgumentException("scratch directory must be an absolute path of [A-Za-z0-9._/-]: "
                    + scratchDir);
        }
        ShellSession session = new ShellSession(link, scratchDir);
        long deadline = System.nanoTime() + timeout.toNanos();
        long pause = 250;
        while (true) {
            String probe = session.newId();
            // Ctrl-U first: drop whatever half line earlier, lost input left in the shell's buffer.
            session.sendLine("\u0015stty -echo 2>/dev/null; t=" + TAG + "; " + marker(probe, "ready"));
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                throw new ShellException("no shell answered on the console within " + timeout
                        + "; is the guest booted to a shell on its serial console?");
            }
            if (link.awaitText(markerText(probe, "ready"), Duration.ofMillis(Math.min(pause, left))) != null) {
                return session;
            }
            pause = Math.min(pause * 2, 4000);
        }
    }

    /** The console this session talks over. */
    public ConsoleLink link() {
        return link;
    }

    /** Runs {@code command} with {@link #DEFAULT_TIMEOUT}. */
    public ExecResult exec(String command) {
        return exec(command, DEFAULT_TIMEOUT);
    }

    /**
     * Runs {@code command} (any shell code, multi-line allowed) with {@code sh} in the guest, stdin
     * from {@code /dev/null}, and returns its exit status, stdout and stderr byte for byte.
     *
     * @param timeout applies to running the command, and again to transferring its output
     * @throws ShellException if the command does not finish in time (it is then sent Ctrl-C) or
     *     its output cannot be transferred intact
     */
    public synchronized ExecResult exec(String command, Duration timeout) {
        if (command.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("a shell command cannot contain NUL");
        }
        String id = newId();
        String f = scratchDir + "/.ign-" + id;
        List<String> chunks = printfChunks(command.getBytes(StandardCharsets.UTF_8));
        String run = "sh " + f + ".sh </dev/null >" + f + ".o 2>" + f + ".e; echo $? >" + f + ".s; "
                + marker(id, "done");
        if (chunks.size() == 1) {
            sendLine("t=" + TAG + "; printf '" + chunks.getFirst() + "' >" + f + ".sh; " + run);
        } else {
            for (int i = 0; i < chunks.size(); i++) {
                sendLine("t=" + TAG + "; printf '" + chunks.get(i) + "' >" + (i == 0 ? "" : ">") + f + ".sh; "
                        + marker(id, "c" + i));
                expect(id, "c" + i, timeout, "writing the command to the guest");
            }
            sendLine("t=" + TAG + "; " + run);
        }
        if (link.awaitText(markerText(id, "done"), timeout) == null) {
            link.send(new byte[] {3}); // Ctrl-C: stop the command so the shell takes input again
            throw new ShellException("command did not finish within " + timeout + ": " + abbreviate(command));
        }
        String problem = null;
        for (int attempt = 0; attempt < DUMP_ATTEMPTS; attempt++) {
            sendLine("t=" + TAG + "; for f in s o e; do if [ -f " + f + ".$f ]; then od -Ad -v -tx1 -w32 " + f
                    + ".$f | sed \"s/^/${t}-" + id + "-$f /\"; echo \"${t}-" + id + "-$f md5 $(md5sum <" + f
                    + ".$f)\"; else echo \"${t}-" + id + "-$f missing\"; fi; done; " + marker(id, "end" + attempt));
            String transcript = expect(id, "end" + attempt, timeout, "reading the command's output");
            Decoded d = decode(transcript, TAG + "-" + id + "-");
            if (d.missing()) {
                throw new ShellException("the guest could not write its output files to " + scratchDir
                        + " (is it a writable directory there?) for `" + abbreviate(command) + "`");
            }
            if (d.problem() == null) {
                sendLine("rm -f " + f + ".sh " + f + ".o " + f + ".e " + f + ".s");
                return new ExecResult(parseStatus(d.status(), command), d.stdout(), d.stderr());
            }
            problem = d.problem();
        }
        throw new ShellException("the output of `" + abbreviate(command) + "` arrived damaged " + DUMP_ATTEMPTS
                + " times (last: " + problem + ")");
    }

    /**
     * Shell code printing the marker {@code name} twice, on separate lines: a kernel message can
     * tear one line, and then the other still gets through. Written as {@code "${t}-..."} so the
     * echoed command never contains the marker itself.
     */
    private static String marker(String id, String name) {
        String echo = "echo \"${t}-" + id + "/" + name + "\"";
        return echo + "; " + echo;
    }

    private static String markerText(String id, String name) {
        return TAG + "-" + id + "/" + name;
    }

    private String expect(String id, String marker, Duration timeout, String doing) {
        String s = link.awaitText(markerText(id, marker), timeout);
        if (s == null) {
            throw new ShellException("the guest's shell stopped answering while " + doing + " (waited " + timeout
                    + ")");
        }
        return s;
    }

    private void sendLine(String line) {
        link.send((line + "\n").getBytes(StandardCharsets.UTF_8));
    }

    private String newId() {
        byte[] b = new byte[8];
        random.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private static int parseStatus(byte[] status, String command) {
        String s = new String(status, StandardCharsets.US_ASCII).strip();
        if (!s.matches("\\d{1,3}")) {
            throw new ShellException("no exit status for `" + abbreviate(command) + "` (got \"" + s + "\")");
        }
        return Integer.parseInt(s);
    }

    private static String abbreviate(String command) {
        String oneLine = command.replace('\n', ' ');
        return oneLine.length() <= 80 ? oneLine : oneLine.substring(0, 77) + "...";
    }

    /**
     * The command as printf format strings of at most {@link #CHUNK} characters: printable ASCII
     * stays as it is, {@code %} doubles, everything else (quotes, backslashes, newlines, UTF-8
     * bytes) becomes a three-digit octal escape, which no shell or terminal alters.
     */
    static List<String> printfChunks(byte[] command) {
        List<String> chunks = new ArrayList<>();
        StringBuilder sb = new StringBuilder();
        for (byte b : command) {
            int c = b & 0xff;
            String piece;
            if (c == '%') {
                piece = "%%";
            } else if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
                piece = String.valueOf((char) c);
            } else {
                piece = String.format("\\%03o", c);
            }
            if (sb.length() + piece.length() > CHUNK) {
                chunks.add(sb.toString());
                sb.setLength(0);
            }
            sb.append(piece);
        }
        chunks.add(sb.toString());
        return chunks;
    }

    /** The three files of a dump, or why the transcript is not a complete, intact dump. */
    record Decoded(byte[] status, byte[] stdout, byte[] stderr, @Nullable String problem, boolean missing) {}

    static Decoded decode(String transcript, String tag) {
        FileDump[] files = {new FileDump('s'), new FileDump('o'), new FileDump('e')};
        for (String raw : transcript.split("\n", -1)) {
            String line = raw.endsWith("\r") ? raw.substring(0, raw.length() - 1) : raw;
            int at = line.indexOf(tag);
            if (at < 0 || line.length() < at + tag.length() + 2) {
                continue;
            }
            char which = line.charAt(at + tag.length());
            String rest = line.substring(at + tag.length() + 1);
            FileDump file = switch (which) {
                case 's' -> files[0];
                case 'o' -> files[1];
                case 'e' -> files[2];
                default -> null;
            };
            if (file == null || rest.isEmpty() || rest.charAt(0) != ' ') {
                return damaged("unexpected tagged line \"" + line + "\"");
            }
            String problem = file.line(rest.substring(1));
            if (problem != null) {
                return damaged(problem);
            }
        }
        for (FileDump file : files) {
            String problem = file.finish();
            if (problem != null) {
                return damaged(problem);
            }
        }
        return new Decoded(files[0].bytes(), files[1].bytes(), files[2].bytes(), null, false);
    }

    private static Decoded damaged(String why) {
        return new Decoded(new byte[0], new byte[0], new byte[0], why, why.endsWith(" missing"));
    }

    /** Reassembles one file from {@code od -Ad -v -tx1 -w32} lines and checks it against its MD5. */
    private static final class FileDump {
        private final char name;
        private final ByteArrayOutputStream data = new ByteArrayOutputStream();
        private boolean ended;
        private @Nullable String md5;

        FileDump(char name) {
            this.name = name;
        }

        @Nullable String line(String payload) {
            if (payload.equals("missing")) {
                return "file " + name + " missing";
            }
            if (md5 != null) {
                return "file " + name + ": line after its checksum";
            }
            Matcher m = MD5.matcher(payload);
            if (m.matches()) {
                md5 = m.group(1);
                return null;
            }
            m = DATA.matcher(payload);
            if (!m.matches()) {
                return "file " + name + ": damaged line \"" + payload + "\"";
            }
            long offset = Long.parseLong(m.group(1));
            if (ended || offset != data.size()) {
                return "file " + name + ": line at offset " + offset + " where " + data.size() + " was expected";
            }
            String hex = m.group(2);
            if (hex.isEmpty()) {
                ended = true;
            } else {
                data.writeBytes(HexFormat.of().parseHex(hex.replace(" ", "")));
            }
            return null;
        }

        @Nullable String finish() {
            if (!ended) {
                return "file " + name + ": incomplete (" + data.size() + " bytes, no end offset)";
            }
            if (md5 == null) {
                return "file " + name + ": no checksum";
            }
            try {
                String actual = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(data.toByteArray()));
                return actual.equals(md5) ? null : "file " + name + ": checksum mismatch";
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("MD5 is a required JDK algorithm", e);
            }
        }

        byte[] bytes() {
            return data.toByteArray();
        }
    }
}
