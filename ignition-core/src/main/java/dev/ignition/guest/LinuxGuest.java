package dev.ignition.guest;

import dev.ignition.initramfs.Initramfs;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A Linux kernel to boot directly (no firmware), with an optional initramfs and a command line.
 * On x86_64 the kernel is a {@code bzImage} or an uncompressed ELF {@code vmlinux} with a 64-bit
 * entry point; the VM adds its own device declarations ({@code virtio_mmio.device=...}) to the
 * command line.
 *
 * <pre>{@code
 * LinuxGuest guest = LinuxGuest.of(Path.of("bzImage"))
 *         .withInitramfs(Initramfs.builder().init("#!/bin/sh\n...").build())
 *         .appendCommandLine("quiet");
 * }</pre>
 *
 * @param kernel path of the kernel image, read when the VM is built
 * @param initramfs a cpio archive (optionally gzip-compressed), or {@code null} for none
 * @param commandLine the kernel command line
 */
public record LinuxGuest(Path kernel, byte @Nullable [] initramfs, String commandLine) implements Guest {
    /** A serial console on ttyS0, reboot through the keyboard controller (ends the VM), reboot on panic, no PCI. */
    public static final String DEFAULT_COMMAND_LINE = "console=ttyS0 reboot=k panic=1 pci=off";

    public LinuxGuest {
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(commandLine, "commandLine");
        if (commandLine.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("the kernel command line cannot contain NUL");
        }
        initramfs = initramfs == null ? null : initramfs.clone();
    }

    /** {@code kernel} with {@link #DEFAULT_COMMAND_LINE} and no initramfs. */
    public static LinuxGuest of(Path kernel) {
        return new LinuxGuest(kernel, null, DEFAULT_COMMAND_LINE);
    }

    @Override
    public byte @Nullable [] initramfs() {
        return initramfs == null ? null : initramfs.clone();
    }

    /** This guest with {@code initramfs} (written uncompressed). */
    public LinuxGuest withInitramfs(Initramfs initramfs) {
        return new LinuxGuest(kernel, initramfs.toByteArray(), commandLine);
    }

    /** This guest with a prebuilt cpio archive as its initramfs. */
    public LinuxGuest withInitramfs(byte[] cpio) {
        return new LinuxGuest(kernel, cpio, commandLine);
    }

    /** This guest with {@code commandLine} replacing the whole command line. */
    public LinuxGuest withCommandLine(String commandLine) {
        return new LinuxGuest(kernel, initramfs, commandLine);
    }

    /** This guest with {@code more} appended to the command line after a space. */
    public LinuxGuest appendCommandLine(String more) {
        return new LinuxGuest(kernel, initramfs, commandLine.isEmpty() ? more : commandLine + " " + more);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LinuxGuest g && g.kernel.equals(kernel) && Arrays.equals(g.initramfs, initramfs)
                && g.commandLine.equals(commandLine);
    }

    @Override
    public int hashCode() {
        return Objects.hash(kernel, Arrays.hashCode(initramfs), commandLine);
    }

    @Override
    public String toString() {
        return "LinuxGuest[" + kernel + ", initramfs " + (initramfs == null ? "none" : initramfs.length + " bytes")
                + ", \"" + commandLine + "\"]";
    }
}
