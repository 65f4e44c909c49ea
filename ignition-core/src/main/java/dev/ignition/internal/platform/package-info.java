/**
 * The machine each guest architecture gets: its built-in devices, how guest memory is laid out,
 * where virtio-mmio devices go and how a guest is loaded, one class per architecture behind
 * {@link dev.ignition.internal.platform.Platform}. Internal: not exported.
 */
@NullMarked
package dev.ignition.internal.platform;

import org.jspecify.annotations.NullMarked;
