/** JUnit 5 support for test suites that run Ignition VMs. */
module dev.ignition.testkit {
    requires transitive dev.ignition.core;
    requires transitive org.junit.jupiter.api;

    exports dev.ignition.testkit;
    // The backend check, shared with the VM-per-test extension.
    exports dev.ignition.testkit.internal to dev.ignition.junit;
}
