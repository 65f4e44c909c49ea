/** Small runnable programs that show how to use Ignition. */
module dev.ignition.examples {
    requires dev.ignition.core;
    requires dev.ignition.snapshot;
}
