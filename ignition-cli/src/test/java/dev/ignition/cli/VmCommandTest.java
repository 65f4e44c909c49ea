package dev.ignition.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.memory.GuestMemory;
import dev.ignition.memory.MemoryRegion;
import dev.ignition.snapshot.DirtyPages;
import dev.ignition.snapshot.SnapshotStore;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Option parsing, the errors a user sees for bad input, and the store commands on a real store. */
class VmCommandTest {
    @TempDir
    Path dir;

    record Result(int status, String out, String err) {}

    static Result execute(String... args) {
        CommandLine cl = VmCommand.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int status = cl.execute(args);
        return new Result(status, out.toString(), err.toString());
    }

    static VmCommand parse(String... args) {
        VmCommand c = new VmCommand();
        new CommandLine(c).parseArgs(args);
        return c;
    }

    @Test
    void parsesEveryRunOption() throws Exception {
        Path kernel = Files.writeString(dir.resolve("vmlinux"), "k");
        Path initrd = Files.writeString(dir.resolve("initrd"), "i");
        VmCommand c = parse("-m", "256", "--vcpus", "2", "--kernel", kernel.toString(), "--initramfs", initrd.toString(),
                "--cmdline", "console=ttyS0 quiet", "--track-dirty", "--name", "booted", "--store", dir.toString(),
                "--backend", "kvm");
        assertThat(c.memoryMiB).isEqualTo(256);
        assertThat(c.vcpus).isEqualTo(2);
        assertThat(c.kernel).isEqualTo(kernel);
        assertThat(c.initramfs).isEqualTo(initrd);
        assertThat(c.cmdline).isEqualTo("console=ttyS0 quiet");
        assertThat(c.trackDirty).isTrue();
        assertThat(c.name).isEqualTo("booted");
        assertThat(c.store).isEqualTo(dir);
        assertThat(c.backend).isEqualTo("kvm");
        assertThat(c.problems()).isEmpty();
        assertThat(c.bootGuest().toString()).contains("console=ttyS0 quiet");
    }

    @Test
    void defaultsLeaveMemoryAndVcpusToTheSnapshotWhenRestoring() {
        VmCommand c = parse("--restore", "base");
        assertThat(c.problems()).isEmpty();
        assertThat(c.memoryMiB).isNull();
        assertThat(c.vcpus).isNull();
        assertThat(c.name).isEqualTo("snapshot");
        assertThat(c.store).isEqualTo(Path.of("snapshots"));
    }

    @Test
    void reportsEveryProblemAtOnce() {
        VmCommand c = parse("--kernel", dir.resolve("missing").toString(), "--guest", "doom", "-m", "0", "-c", "0",
                "--name", "../escape");
        assertThat(c.problems()).containsExactly(
                "--kernel, --guest and --restore exclude each other: give one",
                "--kernel " + dir.resolve("missing") + ": no such file",
                "--guest doom: unknown; choose one of [counter, dirtier, echo, hello]",
                "--memory must be positive, was 0",
                "--vcpus must be at least 1, was 0",
                "--name: invalid snapshot name '../escape': use 1-128 characters from [A-Za-z0-9._-], starting with a letter or digit");
    }

    @Test
    void disksAreRepeatableAndMustExistAndNotComeWithARestore() throws Exception {
        Path a = Files.writeString(dir.resolve("a.img"), "a");
        Path b = Files.writeString(dir.resolve("b.img"), "b");
        VmCommand c = parse("--guest", "echo", "--disk", a.toString(), "--ro-disk", b.toString(), "--disk", b.toString());
        assertThat(c.disks).containsExactly(a, b);
        assertThat(c.readOnlyDisks).containsExactly(b);
        assertThat(c.problems()).isEmpty();
        assertThat(parse("--restore", "x", "--disk", a.toString(), "--ro-disk", dir.resolve("gone.img").toString()).problems())
                .containsExactly("--disk and --ro-disk cannot be used with --restore: a snapshot brings the disks it was taken with",
                        "disk " + dir.resolve("gone.img") + ": no such file");
    }

    @Test
    void optionsThatNeedAKernelSaySo() {
        assertThat(parse("--guest", "echo", "--initramfs", "x", "--cmdline", "y").problems())
                .containsExactly("--initramfs needs --kernel", "--cmdline needs --kernel");
    }

    @Test
    void nothingToRunExitsWith2AndAHint() {
        Result r = execute();
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.err()).isEqualTo("ignition vm: nothing to run: give --kernel FILE, --guest NAME or --restore NAME\n"
                + "Try 'ignition vm --help'.\n");
    }

    @Test
    void malformedValuesAndUnknownOptionsAreUsageErrors() {
        Result r = execute("--memory", "lots", "--guest", "echo");
        assertThat(r.status()).isEqualTo(2);
        assertThat(r.err()).contains("Invalid value for option '--memory': 'lots' is not a long");
        Result u = execute("--turbo");
        assertThat(u.status()).isEqualTo(2);
        assertThat(u.err()).contains("Unknown option: '--turbo'");
    }

    @Test
    void helpListsTheOptionsAndTheKeys() {
        Result r = execute("--help");
        assertThat(r.status()).isZero();
        assertThat(r.out()).contains("--track-dirty", "--restore=NAME", "--store=DIR", "Ctrl-A s: write a snapshot",
                "Ctrl-A x: quit", "store");
    }

    @Test
    void storeCommandsRefuseAMissingStore() {
        Result r = execute("store", "--store", dir.resolve("nope").toString(), "list");
        assertThat(r.status()).isEqualTo(1);
        assertThat(r.err()).contains("no snapshot store at " + dir.resolve("nope").toAbsolutePath());
        assertThat(dir.resolve("nope")).doesNotExist();
    }

    @Test
    void storeCommandsListInspectVerifySquashDeleteAndCollect() {
        Path storeDir = dir.resolve("store");
        try (Arena arena = Arena.ofShared();
             SnapshotStore store = SnapshotStore.open(storeDir)) {
            GuestMemory memory = new GuestMemory(List.of(new MemoryRegion(0, arena.allocate(4L << 20, 4096))), 4096, () -> {});
            memory.writeLong(0, 1);
            store.writeFull("base", memory, Map.of("cpu", new byte[] {1}));
            memory.writeLong(8192, 2);
            long[] dirty = new long[(int) ((4L << 20) / 4096 / 64)];
            dirty[0] = 1L << 2;
            store.writeDiff("later", "base", memory, DirtyPages.of(dirty), Map.of("cpu", new byte[] {2}));
        }
        String s = storeDir.toString();

        Result list = execute("store", "--store", s, "list");
        assertThat(list.status()).isZero();
        assertThat(list.out()).containsPattern("base +FULL +1 +1 ").containsPattern("later +DIFF +2 +1 ").contains("2 snapshots");

        Result inspect = execute("store", "--store", s, "inspect", "later");
        assertThat(inspect.out()).startsWith("later: 2 layers, 4 MiB of guest memory").contains("DIFF", "FULL", "[cpu]");

        assertThat(execute("store", "--store", s, "verify").out()).isEqualTo("2 layers, 2 names checked: ok\n");

        Result squash = execute("store", "--store", s, "squash", "later", "--into", "flat", "--mode", "FULL");
        assertThat(squash.out()).startsWith("squashed later into flat: FULL layer");

        assertThat(execute("store", "--store", s, "delete", "later").out()).startsWith("deleted [later] and 1 layer(s)");
        Result gc = execute("store", "--store", s, "gc");
        assertThat(gc.status()).isZero();
        assertThat(gc.out()).startsWith("removed ");
        assertThat(execute("store", "--store", s, "list").out()).contains("base", "flat").doesNotContain("later");

        Result missing = execute("store", "--store", s, "inspect", "nothing");
        assertThat(missing.status()).isEqualTo(1);
        assertThat(missing.err()).contains("nothing");
    }
}
