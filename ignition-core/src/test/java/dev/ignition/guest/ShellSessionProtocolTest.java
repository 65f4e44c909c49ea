package dev.ignition.guest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

/** The protocol pieces of {@link ShellSession}, without any shell: escaping, decoding, damage detection. */
class ShellSessionProtocolTest {
    static final String TAG = "IGN-00112233aabbccdd-";

    @Property(tries = 200)
    void printfChunksReproduceTheCommandExactly(@ForAll @Size(max = 3000) byte[] command) {
        List<String> chunks = ShellSession.printfChunks(command);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (String c : chunks) {
            assertThat(c.length()).isLessThanOrEqualTo(ShellSession.CHUNK);
            // Only characters a terminal and a single-quoted shell word pass through unchanged.
            assertThat(c.chars().allMatch(ch -> ch >= 0x20 && ch < 0x7f && ch != '\'')).isTrue();
            out.writeBytes(printf(c));
        }
        assertThat(out.toByteArray()).isEqualTo(command);
    }

    @Test
    void decodesADumpAmidNoiseAndEcho() throws Exception {
        String transcript = "t=IGN; for f in s o e; do od ... \"${t}-00112233aabbccdd-$f /\"\r\n"
                + "[    1.000000] random: crng init done\r\n"
                + dump('s', "0\n".getBytes(StandardCharsets.US_ASCII))
                + "~ # \r\n"
                + dump('o', bytes(0, 70))
                + dump('e', new byte[0]);
        ShellSession.Decoded d = ShellSession.decode(transcript, TAG);
        assertThat(d.problem()).isNull();
        assertThat(d.status()).isEqualTo("0\n".getBytes(StandardCharsets.US_ASCII));
        assertThat(d.stdout()).isEqualTo(bytes(0, 70));
        assertThat(d.stderr()).isEmpty();
    }

    @Test
    void detectsEveryKindOfDamage() throws Exception {
        String ok = dump('s', "3\n".getBytes(StandardCharsets.US_ASCII)) + dump('o', bytes(5, 100)) + dump('e', new byte[0]);
        assertThat(ShellSession.decode(ok, TAG).problem()).isNull();
        // a kernel message tore a data line
        String torn = ok.replace(TAG + "o 0000032 ", TAG + "o 0000032 25 [ 1.2] msg\r\n");
        assertThat(ShellSession.decode(torn, TAG).problem()).contains("damaged line");
        // a line lost entirely
        String lost = ok.replaceFirst(TAG + "o 0000032 [^\r]*\r\n", "");
        assertThat(ShellSession.decode(lost, TAG).problem()).contains("offset 64 where 32 was expected");
        // a line cut short after a whole byte, the rest pushed onto a line of its own
        String cut = ok.replaceFirst("(" + TAG + "o 0000064 [0-9a-f]{2} [0-9a-f]{2})", "$1\r\n[ 1.3] msg\r\n");
        assertThat(ShellSession.decode(cut, TAG).problem()).contains("where 66 was expected");
        // flipped data with a valid shape
        String flipped = ok.replace(TAG + "o 0000000 05", TAG + "o 0000000 06");
        assertThat(ShellSession.decode(flipped, TAG).problem()).contains("checksum mismatch");
        // the end offset missing
        String noEnd = ok.replace(TAG + "o 0000100\r\n", "");
        assertThat(ShellSession.decode(noEnd, TAG).problem()).contains("incomplete");
        // a checksum missing
        String noSum = ok.replaceFirst(TAG + "e md5 [^\r]*\r\n", "");
        assertThat(ShellSession.decode(noSum, TAG).problem()).contains("file e: no checksum");
        // lines for another command are ignored
        String other = ok + "IGN-ffffffffffffffff-o 0000000 41\r\n";
        assertThat(ShellSession.decode(other, TAG).problem()).isNull();
    }

    @Test
    void openFailsClearlyWhenNothingAnswers() {
        ConsoleBuffer silent = new ConsoleBuffer(b -> {});
        assertThatThrownBy(() -> ShellSession.open(silent, Duration.ofMillis(600)))
                .isInstanceOf(ShellException.class).hasMessageContaining("no shell answered on the console within PT0.6S");
        assertThatThrownBy(() -> ShellSession.open(silent, Duration.ofSeconds(1), "relative/dir"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void consoleBufferConsumesThroughTheMatchOnly() {
        ConsoleBuffer b = new ConsoleBuffer(x -> {});
        b.accept("abcXYZdefXYZ".getBytes(StandardCharsets.UTF_8));
        assertThat(b.awaitText("XYZ", Duration.ZERO)).isEqualTo("abcXYZ");
        assertThat(b.awaitText("XYZ", Duration.ZERO)).isEqualTo("defXYZ");
        assertThat(b.awaitText("XYZ", Duration.ofMillis(50))).isNull();
        Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                return;
            }
            b.accept("late!".getBytes(StandardCharsets.UTF_8));
        });
        assertThat(b.awaitText("!", Duration.ofSeconds(10))).isEqualTo("late!");
    }

    /** What {@code od -Ad -v -tx1 -w32 | sed s/^/TAG$f /} and the md5 line print, with CRLF. */
    static String dump(char f, byte[] data) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int off = 0; off < data.length; off += 32) {
            sb.append(TAG).append(f).append(' ').append(String.format("%07d", off));
            for (int i = off; i < Math.min(off + 32, data.length); i++) {
                sb.append(String.format(" %02x", data[i] & 0xff));
            }
            sb.append("\r\n");
        }
        sb.append(TAG).append(f).append(' ').append(String.format("%07d", data.length)).append("\r\n");
        sb.append(TAG).append(f).append(" md5 ")
                .append(HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(data))).append("  -\r\n");
        return sb.toString();
    }

    static byte[] bytes(int from, int count) {
        byte[] b = new byte[count];
        for (int i = 0; i < count; i++) {
            b[i] = (byte) (from + i);
        }
        return b;
    }

    /** The subset of printf(1) format processing the chunks rely on: %% and \ooo. */
    static byte[] printf(String format) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c == '%') {
                assertThat(format.charAt(i + 1)).isEqualTo('%');
                out.write('%');
                i++;
            } else if (c == '\\') {
                out.write(Integer.parseInt(format.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.write(c);
            }
        }
        return out.toByteArray();
    }
}
