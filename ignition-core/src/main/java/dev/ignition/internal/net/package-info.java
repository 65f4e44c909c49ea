/** Frame backends for virtio-net: passt (user-mode networking) and TAP. */
@NullMarked
package dev.ignition.internal.net;

import org.jspecify.annotations.NullMarked;
