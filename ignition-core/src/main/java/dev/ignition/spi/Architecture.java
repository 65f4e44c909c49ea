package dev.ignition.spi;

/** Guest instruction set architectures Ignition knows. */
public enum Architecture {
    X86_64,
    ARM64
}
