/** Small runnable programs that show how to use Ignition. */
module dev.ignition.examples {
    requires dev.ignition.core;
    requires dev.ignition.snapshot;
    requires jdk.httpserver; // LinuxNetwork's HTTP server on the host
}
