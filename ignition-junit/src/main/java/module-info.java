/**
 * A JUnit 5 extension that gives every test a fresh VM forked from one snapshot:
 * {@link dev.ignition.junit.IgnitionTest} and {@link dev.ignition.junit.VmTemplate}.
 */
module dev.ignition.junit {
    requires transitive dev.ignition.core;
    requires transitive dev.ignition.snapshot;
    requires transitive dev.ignition.testkit;
    requires transitive org.junit.jupiter.api;

    exports dev.ignition.junit;
    // JUnit instantiates the extension reflectively; nothing else may use the package.
    opens dev.ignition.junit.internal to org.junit.platform.commons;
}
