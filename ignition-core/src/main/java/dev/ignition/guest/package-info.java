/** Guests a VM can run: freestanding programs, including the built-in test guests. */
@NullMarked
package dev.ignition.guest;

import org.jspecify.annotations.NullMarked;
