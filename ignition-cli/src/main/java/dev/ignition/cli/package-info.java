/**
 * The command-line VM runner ({@code ./ignition vm}, see {@code docs/cli.md}): boots or restores
 * a VM with its console on the terminal, writes snapshots on {@code Ctrl-A s}, and inspects a
 * snapshot store.
 */
@NullMarked
package dev.ignition.cli;

import org.jspecify.annotations.NullMarked;
