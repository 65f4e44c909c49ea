package dev.ignition.guest;

import dev.ignition.initramfs.Initramfs;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.jspecify.annotations.Nullable;

/**
 * The default Linux guest: a micro-VM kernel and busybox built by {@code guests/x86_64/build.sh}
 * into a cache outside the repository, booted with an initramfs this class writes.
 *
 * <pre>{@code
 * try (VirtualMachine vm = VirtualMachine.builder().vcpus(2).memoryMib(256)
 *         .guest(LinuxGuests.defaultGuest()).build()) {
 *     ...
 * }
 * }</pre>
 *
 * <p>The build is found in {@code $IGNITION_GUEST_DIR} if set, else in
 * {@code $IGNITION_CACHE_DIR/guests/x86_64-default}, else in
 * {@code ${XDG_CACHE_HOME:-~/.cache}/ignition/guests/x86_64-default} (the link the script updates).
 */
public final class LinuxGuests {
    /** Where the default guest's init pokes the boot-timer device, and the value it writes. */
    public static final long BOOT_TIMER_ADDRESS = 0xc000_0000L;
    public static final int BOOT_TIMER_VALUE = 123;
    /** The line the default init prints once userspace is up, just before starting the shell. */
    public static final String READY_LINE = "ignition-guest: ready";

    /**
     * The default guest's {@code /init}: mounts proc, sys, dev (devtmpfs), devpts and a tmpfs on
     * /tmp, brings up {@code lo} and, when the VM has a network device ({@code eth0}), configures
     * it by DHCP ({@code udhcpc} with {@link #UDHCPC_SCRIPT}; gives up after about 3 s), pokes the
     * boot-timer device (so the VM can report the guest boot time), then runs a shell on the
     * console with job control. When the shell exits the VM reboots, which ends it.
     */
    public static final String DEFAULT_INIT = """
            #!/bin/busybox sh
            # Ignition default guest init (written by LinuxGuests).
            /bin/busybox mkdir -p /proc /sys /dev /tmp /root /sbin /usr/bin /usr/sbin
            /bin/busybox --install -s
            export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root TERM=linux
            mount -t proc proc /proc
            mount -t sysfs sysfs /sys
            mount -t devtmpfs devtmpfs /dev 2>/dev/null
            mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
            mount -t tmpfs -o mode=1777 tmpfs /tmp
            hostname ignition
            ip link set lo up
            if [ -e /sys/class/net/eth0 ]; then
              udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 3 -T 1 >/dev/null 2>&1 || echo "ignition-guest: no DHCP lease on eth0"
            fi
            devmem 0xc0000000 8 123
            echo "ignition-guest: ready"
            cd /root
            setsid cttyhack sh
            reboot -f
            """;

    /**
     * What {@code udhcpc} runs on a lease in the default guest ({@code /etc/udhcpc.script}): sets
     * the address, the default route and {@code /etc/resolv.conf}.
     */
    public static final String UDHCPC_SCRIPT = """
            #!/bin/sh
            # Ignition default guest: applies a DHCP lease (busybox udhcpc calls this).
            case "$1" in
              deconfig)
                ip addr flush dev "$interface"
                ip link set "$interface" up
                ;;
              bound|renew)
                ip addr flush dev "$interface"
                ip addr add "$ip/${mask:-24}" dev "$interface"
                for r in $router; do ip route add default via "$r" dev "$interface"; break; done
                : > /etc/resolv.conf
                for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
                ;;
            esac
            exit 0
            """;

    private LinuxGuests() {}

    /**
     * The default guest: the cached kernel, {@link #defaultInitramfs} and
     * {@link LinuxGuest#DEFAULT_COMMAND_LINE}.
     *
     * @throws GuestNotBuiltException if the guest has not been built here; the message has the command
     */
    public static LinuxGuest defaultGuest() {
        GuestBuild build = defaultBuild();
        return LinuxGuest.of(build.kernel()).withInitramfs(defaultInitramfs(build.busybox()));
    }

    /**
     * Locates the default guest build.
     *
     * @throws GuestNotBuiltException if it is missing or incomplete; the message has the command
     */
    public static GuestBuild defaultBuild() {
        String arch = System.getProperty("os.arch", "");
        if (!arch.equals("amd64") && !arch.equals("x86_64")) {
            throw new GuestNotBuiltException("the default Linux guest is built for x86_64 hosts; this host is "
                    + arch, "(none yet for " + arch + ")");
        }
        return locate(buildDirectory());
    }

    /** Reads the build in {@code dir}; see {@link #defaultBuild()}. */
    static GuestBuild locate(Path dir) {
        Path props = dir.resolve("guest.properties");
        if (!Files.isRegularFile(props)) {
            throw new GuestNotBuiltException("no default Linux guest build at " + dir, buildCommand());
        }
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(props)) {
            p.load(in);
        } catch (IOException e) {
            throw new GuestNotBuiltException("cannot read " + props + " (" + e.getMessage() + ")", buildCommand());
        }
        Path kernel = file(dir, p, "kernel");
        Path vmlinux = file(dir, p, "vmlinux");
        Path busybox = file(dir, p, "busybox");
        String release = p.getProperty("kernelRelease", "").strip();
        if (release.isEmpty()) {
            throw new GuestNotBuiltException(props + " names no kernelRelease", buildCommand());
        }
        return new GuestBuild(dir, kernel, vmlinux, busybox, release);
    }

    /**
     * The default guest's initramfs: busybox (applet links are made by init), {@code /dev/console}
     * and {@code /dev/null} for the time before devtmpfs is mounted, and {@link #DEFAULT_INIT}.
     * Add files with {@link Initramfs#toBuilder()}.
     */
    public static Initramfs defaultInitramfs(Path busybox) {
        return Initramfs.builder()
                .file("/bin/busybox", busybox, 0755)
                .symlink("/bin/sh", "busybox")
                .charDevice("/dev/console", 0600, 5, 1)
                .charDevice("/dev/null", 0666, 1, 3)
                .directory("/proc", 0555)
                .directory("/sys", 0555)
                .directory("/tmp", 01777)
                .directory("/root", 0700)
                .directory("/etc", 0755)
                .file("/etc/udhcpc.script", UDHCPC_SCRIPT, 0755)
                .init(DEFAULT_INIT)
                .build();
    }

    /** The cache directory builds go to: {@code $IGNITION_CACHE_DIR/guests} or the XDG default. */
    public static Path cacheRoot() {
        String cache = System.getenv("IGNITION_CACHE_DIR");
        if (cache != null && !cache.isEmpty()) {
            return Path.of(cache, "guests");
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isEmpty() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("ignition").resolve("guests");
    }

    /** The shell command that builds the default guest, with the script's path if a checkout is found. */
    public static String buildCommand() {
        Path script = findScript();
        String cmd = (script != null ? script.toString() : "guests/x86_64/build.sh") + " --install-deps";
        String cache = System.getenv("IGNITION_CACHE_DIR");
        if (cache != null && !cache.isEmpty()) {
            cmd = "IGNITION_CACHE_DIR=" + cache + " " + cmd;
        }
        return script != null ? cmd : cmd + "   (from an Ignition source checkout; needs Debian packages, ~4 min on 2 cores)";
    }

    private static Path buildDirectory() {
        String dir = System.getenv("IGNITION_GUEST_DIR");
        if (dir != null && !dir.isEmpty()) {
            return Path.of(dir);
        }
        return cacheRoot().resolve("x86_64-default");
    }

    private static Path file(Path dir, Properties p, String key) {
        String name = p.getProperty(key);
        if (name == null || name.isBlank()) {
            throw new GuestNotBuiltException(dir.resolve("guest.properties") + " names no " + key, buildCommand());
        }
        Path f = dir.resolve(name.strip()).normalize();
        if (!f.startsWith(dir.normalize()) || !Files.isRegularFile(f)) {
            throw new GuestNotBuiltException("the default guest build in " + dir + " lacks its " + key + " (" + f
                    + ")", buildCommand());
        }
        return f;
    }

    /** guests/x86_64/build.sh in the working directory or a parent of it, if this runs in a checkout. */
    private static @Nullable Path findScript() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path s = d.resolve("guests/x86_64/build.sh");
            if (Files.isRegularFile(s)) {
                return s;
            }
        }
        return null;
    }
}
