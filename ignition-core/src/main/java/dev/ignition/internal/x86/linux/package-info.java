/**
 * Linux x86_64 direct boot: {@code vmlinux} (ELF) and {@code bzImage} parsing, the zero page
 * ({@code struct boot_params}) with its e820 map, the MP table and the loader that puts kernel,
 * initramfs and command line into guest memory. Everything read from an image is validated.
 */
@NullMarked
package dev.ignition.internal.x86.linux;

import org.jspecify.annotations.NullMarked;
