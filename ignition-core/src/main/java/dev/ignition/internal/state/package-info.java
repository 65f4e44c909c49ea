/**
 * The one encoding of snapshot state: {@link dev.ignition.internal.state.StateWriter} and
 * {@link dev.ignition.internal.state.StateReader} (tagged, versioned, length-checked
 * little-endian records), the top-level {@link dev.ignition.internal.state.MachineState} and the
 * {@link dev.ignition.internal.state.CorruptStateException} every decoder throws. Devices, the
 * backends and the snapshot store all encode through it. Exported only to Ignition's own modules;
 * no compatibility promise beyond what {@code docs/snapshot-format.md} specifies.
 */
@NullMarked
package dev.ignition.internal.state;

import org.jspecify.annotations.NullMarked;
