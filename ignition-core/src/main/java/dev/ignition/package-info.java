/**
 * The public API: {@link dev.ignition.VirtualMachine} and its builder, lifecycle states, exits,
 * the console, backend availability and the exception hierarchy.
 */
@NullMarked
package dev.ignition;

import org.jspecify.annotations.NullMarked;
