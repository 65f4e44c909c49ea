/**
 * The test kit's implementation: the backend check behind
 * {@link dev.ignition.testkit.RequiresBackend}, shared with the {@code dev.ignition.junit}
 * extension. Not API: it may change in any release.
 */
@NullMarked
package dev.ignition.testkit.internal;

import org.jspecify.annotations.NullMarked;
