package dev.ignition.cli;

import dev.ignition.IgnitionException;
import dev.ignition.VirtualMachine;
import dev.ignition.device.Disk;
import dev.ignition.guest.FreestandingGuest;
import dev.ignition.guest.Guest;
import dev.ignition.guest.LinuxGuest;
import dev.ignition.guest.TestGuests;
import dev.ignition.snapshot.SnapshotStore;
import dev.ignition.snapshot.VmSnapshots;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine;

/**
 * Boots a guest (a Linux kernel or a built-in freestanding guest) or restores a snapshot, with
 * the serial console on the terminal; {@code Ctrl-A s} writes a snapshot, {@code Ctrl-A x} quits.
 * {@code store ...} inspects the snapshot store. See {@code docs/cli.md}.
 *
 * <pre>{@code
 * ./ignition vm --guest echo --track-dirty --name demo     # then type; Ctrl-A s; Ctrl-A x
 * ./ignition vm --restore demo --track-dirty                # continues where "demo" was taken
 * ./ignition vm --kernel bzImage --initramfs initrd.cpio --disk rootfs.ext4
 * ./ignition vm store list
 * }</pre>
 */
@Command(name = "ignition vm", mixinStandardHelpOptions = true, version = "Ignition VM runner 0.1",
        subcommands = StoreCommand.class,
        description = {"Runs a micro-VM with its serial console on this terminal.",
            "Keys: " + EscapeParser.HELP},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:the guest exited with 0, or Ctrl-A x", "1:the VM failed", "2:bad options",
            "N:the guest's own exit code"})
public final class VmCommand implements Callable<Integer> {
    /** Built-in freestanding guests, for trying the runner without a kernel. */
    static final Map<String, Supplier<FreestandingGuest>> GUESTS = Map.of(
            "hello", TestGuests::hello,
            "counter", TestGuests::counter,
            "echo", TestGuests::echo,
            "dirtier", () -> TestGuests.dirtier(256));

    static final long DEFAULT_MEMORY_MIB = 128;

    @Spec
    @Nullable CommandSpec spec;

    @Option(names = {"-m", "--memory"}, paramLabel = "MiB", description = "guest RAM in MiB, a multiple of 2 (default "
            + DEFAULT_MEMORY_MIB + "; when restoring: the snapshot's)")
    @Nullable Long memoryMiB;

    @Option(names = {"-c", "--vcpus"}, paramLabel = "N", description = "vCPUs (default 1; when restoring: the snapshot's)")
    @Nullable Integer vcpus;

    @Option(names = "--kernel", paramLabel = "FILE", description = "Linux kernel to boot (bzImage or vmlinux)")
    @Nullable Path kernel;

    @Option(names = "--initramfs", paramLabel = "FILE", description = "initramfs (cpio) for the kernel")
    @Nullable Path initramfs;

    @Option(names = "--cmdline", paramLabel = "TEXT", description = "kernel command line (default: "
            + LinuxGuest.DEFAULT_COMMAND_LINE + ")")
    @Nullable String cmdline;

    @Option(names = "--disk", paramLabel = "FILE", description = "a raw disk image the guest can write (virtio-blk:"
            + " /dev/vda, /dev/vdb, ... in order); repeatable")
    List<Path> disks = new ArrayList<>();

    @Option(names = "--ro-disk", paramLabel = "FILE", description = "a raw disk image the guest can only read; repeatable,"
            + " attached after the --disk ones")
    List<Path> readOnlyDisks = new ArrayList<>();

    @Option(names = "--guest", paramLabel = "NAME", description = "a built-in freestanding guest instead of a kernel:"
            + " hello, counter, echo or dirtier")
    @Nullable String guest;

    @Option(names = "--track-dirty", description = "track dirty pages, so snapshots after the first are packed diffs")
    boolean trackDirty;

    @Option(names = "--name", paramLabel = "NAME", defaultValue = "snapshot", description = "name of the snapshot Ctrl-A s"
            + " writes; later ones get -2, -3, ... (default: ${DEFAULT-VALUE})")
    String name = "snapshot";

    @Option(names = "--restore", paramLabel = "NAME", description = "restore this snapshot from the store instead of booting")
    @Nullable String restore;

    @Option(names = "--store", paramLabel = "DIR", defaultValue = "snapshots", description = "snapshot store directory"
            + " (default: ${DEFAULT-VALUE})")
    Path store = Path.of("snapshots");

    @Option(names = "--backend", paramLabel = "NAME", description = "hypervisor backend (kvm, hvf; default: the first available)")
    @Nullable String backend;

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The parser, with the runner's exit codes for bad input (2) and failures (1). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new VmCommand());
        cl.setExecutionExceptionHandler((e, line, parsed) -> {
            line.getErr().println("ignition vm: " + (e instanceof IgnitionException || e instanceof IllegalArgumentException
                    ? e.getMessage() : e.toString()));
            return 1;
        });
        return cl;
    }

    /** Every problem with the options that picocli's parsing cannot see; empty when they are fine. */
    List<String> problems() {
        List<String> p = new ArrayList<>();
        int sources = (kernel != null ? 1 : 0) + (guest != null ? 1 : 0) + (restore != null ? 1 : 0);
        if (sources == 0) {
            p.add("nothing to run: give --kernel FILE, --guest NAME or --restore NAME");
        } else if (sources > 1) {
            p.add("--kernel, --guest and --restore exclude each other: give one");
        }
        if (kernel != null && !Files.isRegularFile(kernel)) {
            p.add("--kernel " + kernel + ": no such file");
        }
        if (initramfs != null && kernel == null) {
            p.add("--initramfs needs --kernel");
        } else if (initramfs != null && !Files.isRegularFile(initramfs)) {
            p.add("--initramfs " + initramfs + ": no such file");
        }
        if (cmdline != null && kernel == null) {
            p.add("--cmdline needs --kernel");
        }
        if (restore != null && !(disks.isEmpty() && readOnlyDisks.isEmpty())) {
            p.add("--disk and --ro-disk cannot be used with --restore: a snapshot brings the disks it was taken with");
        }
        for (Path d : concat(disks, readOnlyDisks)) {
            if (!Files.isRegularFile(d)) {
                p.add("disk " + d + ": no such file");
            }
        }
        if (guest != null && !GUESTS.containsKey(guest)) {
            p.add("--guest " + guest + ": unknown; choose one of " + GUESTS.keySet().stream().sorted().toList());
        }
        if (memoryMiB != null && memoryMiB <= 0) {
            p.add("--memory must be positive, was " + memoryMiB);
        }
        if (vcpus != null && vcpus < 1) {
            p.add("--vcpus must be at least 1, was " + vcpus);
        }
        try {
            SnapshotNames.check(name);
        } catch (IllegalArgumentException e) {
            p.add("--name: " + e.getMessage());
        }
        return p;
    }

    /** The builder for a booted or restored VM, from the options that apply to both. */
    VirtualMachine.Builder configure(VirtualMachine.Builder b, boolean restoring) {
        if (memoryMiB != null || !restoring) {
            b.memoryMiB(memoryMiB != null ? memoryMiB : DEFAULT_MEMORY_MIB);
        }
        if (vcpus != null) {
            b.vcpus(vcpus);
        }
        if (backend != null) {
            b.backend(backend);
        }
        if (!restoring) {
            disks.forEach(d -> b.disk(Disk.of(d)));
            readOnlyDisks.forEach(d -> b.disk(Disk.of(d).asReadOnly()));
        }
        return b.trackDirtyPages(trackDirty).consoleOutput(System.out);
    }

    private static List<Path> concat(List<Path> a, List<Path> b) {
        List<Path> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** What to boot: the kernel (with initramfs and command line) or the built-in guest. */
    Guest bootGuest() {
        if (guest != null) {
            return GUESTS.get(guest).get();
        }
        LinuxGuest g = LinuxGuest.of(Objects.requireNonNull(kernel));
        if (initramfs != null) {
            try {
                g = g.withInitramfs(Files.readAllBytes(initramfs));
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read --initramfs " + initramfs + ": " + e.getMessage(), e);
            }
        }
        return cmdline != null ? g.withCommandLine(cmdline) : g;
    }

    @Override
    public Integer call() {
        PrintWriter err = Objects.requireNonNull(spec).commandLine().getErr();
        List<String> problems = problems();
        if (!problems.isEmpty()) {
            problems.forEach(pr -> err.println("ignition vm: " + pr));
            err.println("Try 'ignition vm --help'.");
            return 2;
        }
        try (SnapshotStore s = SnapshotStore.open(store);
             VirtualMachine vm = restore != null
                     ? VmSnapshots.restore(s, restore, b -> configure(b, true))
                     : configure(VirtualMachine.builder(), false).guest(bootGuest()).build();
             Terminal terminal = Terminal.rawIfInteractive()) {
            System.err.printf("[ignition] %s on %s, %d MiB; store %s. %s%n",
                    restore != null ? "restored '" + restore + "'" : "booting " + (guest != null ? guest : kernel),
                    vm.backend(), vm.memory().size() >> 20, s.directory(), EscapeParser.HELP);
            return new Session(vm, s, name, System.in, System.err, terminal.newline()).run();
        }
    }
}
