/** The extension behind {@link dev.ignition.junit.IgnitionTest}. Not API: it may change in any release. */
@NullMarked
package dev.ignition.junit.internal;

import org.jspecify.annotations.NullMarked;
