/** Guest-physical memory: regions mapped into the host and bounds-checked access to them. */
@NullMarked
package dev.ignition.memory;

import org.jspecify.annotations.NullMarked;
