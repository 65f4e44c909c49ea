/**
 * Internal implementation of virtio 1.x over the virtio-mmio transport (version 2): split
 * virtqueues, the transport's register file and the block and entropy devices. Everything the
 * guest puts in a ring is untrusted: a violation moves the device to {@code DEVICE_NEEDS_RESET}
 * instead of throwing into the vCPU loop. Not exported; no compatibility promise of any kind.
 */
@NullMarked
package dev.ignition.internal.virtio;

import org.jspecify.annotations.NullMarked;
