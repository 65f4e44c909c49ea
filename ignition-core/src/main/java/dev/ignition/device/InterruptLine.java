package dev.ignition.device;

/** A level-triggered interrupt line into the VM's interrupt controller. */
public interface InterruptLine {
    /** Drives the line high ({@code true}) or low. Safe from any thread. */
    void set(boolean high);
}
