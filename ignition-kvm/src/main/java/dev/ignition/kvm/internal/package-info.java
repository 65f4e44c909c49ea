/** KVM backend implementation. Not exported; found through {@link java.util.ServiceLoader}. */
@NullMarked
package dev.ignition.kvm.internal;

import org.jspecify.annotations.NullMarked;
