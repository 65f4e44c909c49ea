/**
 * Internal implementation. Not exported (or exported only to Ignition's own modules); no
 * compatibility promise of any kind.
 */
@NullMarked
package dev.ignition.internal.vm;

import org.jspecify.annotations.NullMarked;
