/** JUnit 5 conditions and extensions for tests that run VMs. */
@NullMarked
package dev.ignition.testkit;

import org.jspecify.annotations.NullMarked;
