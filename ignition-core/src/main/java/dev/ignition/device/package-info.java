/**
 * The device SPI: implement {@link dev.ignition.device.PortIoDevice} or
 * {@link dev.ignition.device.MmioDevice} and add it with
 * {@link dev.ignition.VirtualMachine.Builder#device}.
 */
@NullMarked
package dev.ignition.device;

import org.jspecify.annotations.NullMarked;
