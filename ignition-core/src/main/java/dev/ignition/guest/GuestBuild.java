package dev.ignition.guest;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A Linux guest built by {@code guests/x86_64/build.sh}: where its files are and which kernel it is.
 *
 * @param directory the cache directory holding the build
 * @param kernel the bzImage
 * @param vmlinux the uncompressed ELF kernel of the same build
 * @param busybox the static busybox binary for the initramfs
 * @param kernelRelease what {@code uname -r} prints in the guest
 */
public record GuestBuild(Path directory, Path kernel, Path vmlinux, Path busybox, String kernelRelease) {
    public GuestBuild {
        Objects.requireNonNull(directory, "directory");
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(vmlinux, "vmlinux");
        Objects.requireNonNull(busybox, "busybox");
        Objects.requireNonNull(kernelRelease, "kernelRelease");
    }
}
