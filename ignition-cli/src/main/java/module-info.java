/** The command-line VM runner: {@code ./ignition vm}. Built on Ignition's public API only. */
module dev.ignition.cli {
    requires dev.ignition.core;
    requires dev.ignition.snapshot;
    requires info.picocli;

    // picocli fills the option fields reflectively.
    opens dev.ignition.cli to info.picocli;
}
