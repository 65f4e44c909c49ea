package dev.ignition.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.cli.EscapeParser.Action;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

class EscapeParserTest {
    static List<Action> feed(String s) {
        byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
        return new EscapeParser().feed(b, 0, b.length);
    }

    static Action.Forward fwd(String s) {
        return new Action.Forward(s.getBytes(StandardCharsets.ISO_8859_1));
    }

    /** Forward holds an array: compare its bytes, not its identity. */
    static List<Object> comparable(List<Action> actions) {
        return actions.stream().map(a -> a instanceof Action.Forward f ? (Object) new String(f.bytes(),
                StandardCharsets.ISO_8859_1) : a).toList();
    }

    @Test
    void plainInputGoesToTheGuestInOnePiece() {
        assertThat(comparable(feed("ls -l\r"))).containsExactly("ls -l\r");
    }

    @Test
    void ctrlASWritesASnapshotBetweenForwardedText() {
        assertThat(comparable(feed("ab\u0001scd"))).containsExactly("ab", new Action.Snapshot(), "cd");
    }

    @Test
    void ctrlAXQuitsAndCtrlAHShowsHelpInEitherCase() {
        assertThat(comparable(feed("\u0001x"))).containsExactly(new Action.Quit());
        assertThat(comparable(feed("\u0001X\u0001S\u0001h\u0001?\u0001H")))
                .containsExactly(new Action.Quit(), new Action.Snapshot(), new Action.Help(), new Action.Help(), new Action.Help());
    }

    @Test
    void ctrlATwiceSendsOneCtrlA() {
        assertThat(comparable(feed("a\u0001\u0001b"))).containsExactly("a\u0001b");
    }

    @Test
    void anUnknownEscapeIsReportedAndNotSent() {
        assertThat(comparable(feed("a\u0001qb"))).containsExactly("a", new Action.Unknown('q'), "b");
    }

    @Test
    void anEscapeSplitAcrossReadsStillWorks() {
        EscapeParser p = new EscapeParser();
        assertThat(p.feed(new byte[] {'z', 1}, 0, 2)).hasSize(1);
        assertThat(p.inEscape()).isTrue();
        assertThat(p.feed(new byte[] {'s'}, 0, 1)).containsExactly(new Action.Snapshot());
        assertThat(p.inEscape()).isFalse();
        assertThat(p.feed(0x01)).isEqualTo(new Action.Pending());
        assertThat(p.feed(0xff)).isEqualTo(new Action.Unknown(0xff));
    }

    /** A reference model: what reaches the guest and which commands run, for any input. */
    @Property
    void forwardsExactlyTheNonEscapeBytesInOrder(@ForAll byte[] input) {
        ByteArrayOutputStream expectedBytes = new ByteArrayOutputStream();
        List<Object> expectedCommands = new ArrayList<>();
        for (int i = 0; i < input.length; i++) {
            if (input[i] != 1) {
                expectedBytes.write(input[i]);
            } else if (i + 1 < input.length) {
                int c = input[++i] & 0xff;
                switch (c) {
                    case 1 -> expectedBytes.write(1);
                    case 's', 'S' -> expectedCommands.add(new Action.Snapshot());
                    case 'x', 'X' -> expectedCommands.add(new Action.Quit());
                    case 'h', 'H', '?' -> expectedCommands.add(new Action.Help());
                    default -> expectedCommands.add(new Action.Unknown(c));
                }
            }
        }
        ByteArrayOutputStream forwarded = new ByteArrayOutputStream();
        List<Object> commands = new ArrayList<>();
        Action previous = null;
        for (Action a : new EscapeParser().feed(input, 0, input.length)) {
            assertThat(a).isNotInstanceOf(Action.Pending.class);
            if (a instanceof Action.Forward f) {
                assertThat(previous instanceof Action.Forward).as("adjacent forwards are merged").isFalse();
                assertThat(f.bytes()).isNotEmpty();
                forwarded.writeBytes(f.bytes());
            } else {
                commands.add(a);
            }
            previous = a;
        }
        assertThat(forwarded.toByteArray()).isEqualTo(expectedBytes.toByteArray());
        assertThat(commands).isEqualTo(expectedCommands);
    }
}
