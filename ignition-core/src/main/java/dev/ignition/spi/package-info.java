/**
 * The hypervisor SPI that backends implement and register with {@link java.util.ServiceLoader}.
 * Users of Ignition never need these types; backend authors do.
 */
@NullMarked
package dev.ignition.spi;

import org.jspecify.annotations.NullMarked;
