/**
 * Implementation of the Hypervisor.framework backend. {@link dev.ignition.hvf.internal.HvfNative}
 * owns every native symbol; {@link dev.ignition.hvf.internal.HvfLayer} is the Java interface over
 * it that everything above (exit decoding, MMIO, PSCI, WFI, dirty tracking, state capture) is
 * written against, so ordinary unit tests drive that logic with a scripted fake.
 */
@NullMarked
package dev.ignition.hvf.internal;

import org.jspecify.annotations.NullMarked;
