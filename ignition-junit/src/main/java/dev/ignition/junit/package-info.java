/**
 * A VM per test, forked from one snapshot: annotate the class with
 * {@link dev.ignition.junit.IgnitionTest} and declare a static {@link dev.ignition.junit.VmTemplate}.
 */
@NullMarked
package dev.ignition.junit;

import org.jspecify.annotations.NullMarked;
