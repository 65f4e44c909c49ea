package dev.ignition.cli;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits terminal input into bytes for the guest and runner commands, like QEMU's and the seed's
 * console: {@code Ctrl-A} starts an escape; {@code Ctrl-A s} asks for a snapshot, {@code Ctrl-A x}
 * to quit, {@code Ctrl-A h} (or {@code ?}) for help, {@code Ctrl-A Ctrl-A} sends one {@code Ctrl-A}
 * to the guest. Any other byte after {@code Ctrl-A} is reported, not sent.
 *
 * <pre>{@code
 * EscapeParser p = new EscapeParser();
 * for (byte b : input) {
 *     switch (p.feed(b)) { case EscapeParser.Action.Forward f -> vm.console().write(f.bytes()); ... }
 * }
 * }</pre>
 */
public final class EscapeParser {
    /** The escape byte: Ctrl-A. */
    public static final int ESCAPE = 0x01;

    /** What one input byte means. */
    public sealed interface Action {
        /** Send these bytes to the guest. */
        record Forward(byte[] bytes) implements Action {}

        /** Nothing to do yet (an escape started). */
        record Pending() implements Action {}

        /** {@code Ctrl-A s}: write a snapshot. */
        record Snapshot() implements Action {}

        /** {@code Ctrl-A x}: quit. */
        record Quit() implements Action {}

        /** {@code Ctrl-A h} or {@code Ctrl-A ?}: show the keys. */
        record Help() implements Action {}

        /** {@code Ctrl-A} followed by a byte that means nothing. */
        record Unknown(int key) implements Action {}
    }

    /** The keys, for the help text. */
    public static final String HELP = "Ctrl-A s: write a snapshot   Ctrl-A x: quit   Ctrl-A Ctrl-A: send Ctrl-A   Ctrl-A h: this help";

    private boolean escaped;

    /** Interprets one input byte. */
    public Action feed(int b) {
        int c = b & 0xff;
        if (!escaped) {
            if (c == ESCAPE) {
                escaped = true;
                return new Action.Pending();
            }
            return new Action.Forward(new byte[] {(byte) c});
        }
        escaped = false;
        return switch (c) {
            case 's', 'S' -> new Action.Snapshot();
            case 'x', 'X' -> new Action.Quit();
            case 'h', 'H', '?' -> new Action.Help();
            case ESCAPE -> new Action.Forward(new byte[] {ESCAPE});
            default -> new Action.Unknown(c);
        };
    }

    /** True between a {@code Ctrl-A} and the byte after it. */
    public boolean inEscape() {
        return escaped;
    }

    /**
     * Interprets a chunk: consecutive bytes for the guest are merged into one {@link Action.Forward};
     * every command stays its own action. {@link Action.Pending} is left out.
     */
    public List<Action> feed(byte[] chunk, int off, int len) {
        List<Action> out = new ArrayList<>();
        ByteArrayOutputStream pending = new ByteArrayOutputStream();
        for (int i = off; i < off + len; i++) {
            Action a = feed(chunk[i]);
            if (a instanceof Action.Forward f) {
                pending.writeBytes(f.bytes());
                continue;
            }
            if (a instanceof Action.Pending) {
                continue;
            }
            if (pending.size() > 0) {
                out.add(new Action.Forward(pending.toByteArray()));
                pending.reset();
            }
            out.add(a);
        }
        if (pending.size() > 0) {
            out.add(new Action.Forward(pending.toByteArray()));
        }
        return out;
    }
}
