/**
 * Initramfs images for Linux guests, composed from Java and written in the kernel's cpio "newc"
 * format: files, directories, symlinks, device nodes and an {@code /init} script.
 *
 * <pre>{@code
 * Initramfs initramfs = Initramfs.builder()
 *         .file("/bin/busybox", Path.of("/bin/busybox"), 0755)
 *         .symlink("/bin/sh", "busybox")
 *         .charDevice("/dev/console", 0600, 5, 1)
 *         .init("#!/bin/sh\necho hello\nexec sh\n")
 *         .build();
 * byte[] cpio = initramfs.toByteArray();
 * }</pre>
 */
@NullMarked
package dev.ignition.initramfs;

import org.jspecify.annotations.NullMarked;
