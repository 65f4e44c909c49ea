/** Runnable examples; each class has a {@code main} and a comment saying how to run it. */
@NullMarked
package dev.ignition.examples;

import org.jspecify.annotations.NullMarked;
