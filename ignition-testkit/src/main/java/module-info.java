/** JUnit 5 support for test suites that run Ignition VMs. */
module dev.ignition.testkit {
    requires transitive dev.ignition.core;
    requires transitive org.junit.jupiter.api;

    exports dev.ignition.testkit;
}
