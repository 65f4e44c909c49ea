/**
 * Guests a VM can run: freestanding programs (including the built-in test guests) and Linux
 * kernels ({@link dev.ignition.guest.LinuxGuest}, with the default build located by
 * {@link dev.ignition.guest.LinuxGuests}), and {@link dev.ignition.guest.ShellSession} to run
 * commands in a Linux guest over its console.
 */
@NullMarked
package dev.ignition.guest;

import org.jspecify.annotations.NullMarked;
