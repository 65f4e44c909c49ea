/**
 * The arm64 platform shared by Ignition's arm64 backends: guest memory map, flattened device
 * tree writer, Linux arm64 {@code Image} loading, exception-syndrome decoding, PSCI and a PL011
 * UART. Internal: exported only to the backends.
 */
@NullMarked
package dev.ignition.internal.arm64;

import org.jspecify.annotations.NullMarked;
