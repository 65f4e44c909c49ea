/**
 * Implementation of the snapshot store (format codec, writers, chain resolution, restore,
 * native file cloning). Not exported; no compatibility promise.
 */
@NullMarked
package dev.ignition.snapshot.internal;

import org.jspecify.annotations.NullMarked;
