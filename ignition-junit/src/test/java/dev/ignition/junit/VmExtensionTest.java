package dev.ignition.junit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.ignition.Console;
import dev.ignition.Network;
import dev.ignition.NetworkAttachment;
import dev.ignition.VirtualMachine;
import dev.ignition.VmState;
import dev.ignition.guest.TestGuests;
import dev.ignition.junit.fake.FakeProvider;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.reporting.ReportEntry;
import org.junit.platform.testkit.engine.EngineExecutionResults;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;

/**
 * The extension's lifecycle, run through the Jupiter engine on sample classes with the fake
 * backend (no hypervisor needed): one template boot per class, a fresh fork per test that sees
 * the snapshot and no other test's changes, forks closed after failing tests too, parallel tests,
 * skips with the probe's reason, and clear errors for bad declarations.
 */
class VmExtensionTest {
    static final long MARK = 0x28_0000;
    static final long SNAPSHOT_MARK = 0x5eed;

    /** VMs the samples were given, in the order they got them. */
    static final List<VirtualMachine> SEEN = Collections.synchronizedList(new ArrayList<>());
    /** Markers the samples' tests wrote into their forks. */
    static final List<Long> WRITTEN = Collections.synchronizedList(new ArrayList<>());

    static VmTemplate echo() {
        return VmTemplate.boot(TestGuests.echo())
                .configure(b -> b.memoryMiB(8))
                .backend(FakeProvider.NAME)
                .waitingFor(FakeProvider.READY)
                .beforeSnapshot(vm -> {
                    vm.console().write("ab");
                    vm.console().waitFor("ab", Duration.ofSeconds(10));
                    vm.memory().writeLong(MARK, SNAPSHOT_MARK);
                });
    }

    /** What every fork must see: the snapshot's marker and echo count, nothing another test wrote. */
    static void assertPristine(VirtualMachine vm) {
        assertThat(vm.state()).isEqualTo(VmState.RUNNING);
        assertThat(vm.memory().readLong(MARK)).isEqualTo(SNAPSHOT_MARK);
        assertThat(vm.memory().readLong(FakeProvider.ECHO_COUNT)).isEqualTo(2);
        assertThat(vm.console().output()).as("a fork's console starts empty").isEmpty();
    }

    /** Writes this test's own marker and checks the guest still runs from the snapshot's state. */
    static void change(VirtualMachine vm, long marker) {
        vm.memory().writeLong(MARK, marker);
        WRITTEN.add(marker);
        vm.console().write("x");
        vm.console().waitFor("x", Duration.ofSeconds(10));
        assertThat(vm.memory().readLong(FakeProvider.ECHO_COUNT)).isEqualTo(3);
    }

    @IgnitionTest
    @TestMethodOrder(MethodOrderer.MethodName.class)
    static class Forks {
        static final VmTemplate VM = echo();
        static final Map<String, VirtualMachine> BEFORE = Collections.synchronizedMap(new HashMap<>());

        @BeforeEach
        void before(VirtualMachine vm, TestInfo info) {
            BEFORE.put(info.getDisplayName(), vm);
        }

        @Test
        void a(VirtualMachine vm, TestInfo info) {
            SEEN.add(vm);
            assertThat(BEFORE.get(info.getDisplayName())).isSameAs(vm);
            assertPristine(vm);
            change(vm, 0xa);
        }

        @Test
        void b(VirtualMachine vm) {
            SEEN.add(vm);
            assertPristine(vm);
            change(vm, 0xb);
        }

        @Test
        void c(Console console, VirtualMachine vm) {
            SEEN.add(vm);
            assertThat(console).isSameAs(vm.console());
            assertPristine(vm);
            change(vm, 0xc);
        }

        @Test
        void d() {
            // takes no VM, but its @BeforeEach does: it gets one too
        }
    }

    static final List<Integer> PORTS = Collections.synchronizedList(new ArrayList<>());

    @IgnitionTest
    static class Networked {
        static final VmTemplate VM = VmTemplate.boot(TestGuests.echo()).backend(FakeProvider.NAME)
                .configure(b -> b.memoryMiB(8).network(Network.userMode().forwardTcp(0, 80)))
                .waitingFor(FakeProvider.READY);

        @Test
        void a(NetworkAttachment net, VirtualMachine vm) throws IOException {
            SEEN.add(vm);
            assertThat(vm.network()).contains(net);
            PORTS.add(net.hostPort(80));
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), net.hostPort(80))) {
                assertThat(s.isConnected()).isTrue();
            }
        }

        @Test
        void b(NetworkAttachment net, VirtualMachine vm) {
            SEEN.add(vm);
            PORTS.add(net.hostPort(80));
        }
    }

    @IgnitionTest
    static class NetworkWithoutNetwork {
        static final VmTemplate VM = echo();

        @Test
        void t(NetworkAttachment net) {}
    }

    @IgnitionTest
    static class NoVmWanted {
        static final VmTemplate VM = echo();

        @Test
        void t() {
            // takes no VM: none is forked for it
        }
    }

    @IgnitionTest
    static class Failing {
        static final VmTemplate VM = echo();

        @Test
        void fails(VirtualMachine vm) {
            SEEN.add(vm);
            vm.console().write("visible in the report");
            vm.console().waitFor("report", Duration.ofSeconds(10));
            throw new AssertionError("deliberate failure");
        }
    }

    @IgnitionTest
    static class Parallel {
        static final VmTemplate VM = echo();
        static final CyclicBarrier ALL_AT_ONCE = new CyclicBarrier(4);

        @Test
        void p1(VirtualMachine vm) throws Exception {
            together(vm, 0x11);
        }

        @Test
        void p2(VirtualMachine vm) throws Exception {
            together(vm, 0x12);
        }

        @Test
        void p3(VirtualMachine vm) throws Exception {
            together(vm, 0x13);
        }

        @Test
        void p4(VirtualMachine vm) throws Exception {
            together(vm, 0x14);
        }

        private static void together(VirtualMachine vm, long marker) throws Exception {
            SEEN.add(vm);
            assertPristine(vm);
            ALL_AT_ONCE.await(30, TimeUnit.SECONDS); // all four forks are alive at the same time
            change(vm, marker);
            ALL_AT_ONCE.await(30, TimeUnit.SECONDS); // and none sees another's marker
            assertThat(vm.memory().readLong(MARK)).isEqualTo(marker);
        }
    }

    @IgnitionTest
    static class Outer {
        static final VmTemplate VM = echo();

        @Test
        void outer(VirtualMachine vm) {
            SEEN.add(vm);
            assertPristine(vm);
            change(vm, 0x0);
        }

        @Nested
        class Inner {
            @Test
            void inner(VirtualMachine vm) {
                SEEN.add(vm);
                assertPristine(vm);
                change(vm, 0x1);
            }
        }
    }

    @IgnitionTest
    static class NoTemplate {
        @Test
        void t() {}
    }

    @IgnitionTest
    static class TwoTemplates {
        static final VmTemplate ONE = echo();
        static final VmTemplate TWO = echo();

        @Test
        void t() {}
    }

    @IgnitionTest
    static class NeverReady {
        static final VmTemplate VM = VmTemplate.boot(TestGuests.echo()).backend(FakeProvider.NAME)
                .configure(b -> b.memoryMiB(8)).waitingFor("never printed").startupTimeout(Duration.ofMillis(300));

        @Test
        void t() {}
    }

    @IgnitionTest
    static class KvmNotOnTheClassPath {
        static final VmTemplate VM = VmTemplate.boot(TestGuests.echo()).backend("kvm");

        @Test
        void t() {}
    }

    @IgnitionTest
    static class ReadyByPattern {
        static final VmTemplate VM = VmTemplate.boot(TestGuests.echo()).backend(FakeProvider.NAME)
                .configure(b -> b.memoryMiB(8)).waitingFor(Pattern.compile("echo r[a-z]+y\\n"));

        @Test
        void t(VirtualMachine vm) {
            assertThat(vm.memory().readLong(FakeProvider.ECHO_COUNT)).isZero();
        }
    }

    @IgnitionTest
    static class ReadyByCondition {
        static final VmTemplate VM = VmTemplate.boot(TestGuests.echo()).backend(FakeProvider.NAME)
                .configure(b -> b.memoryMiB(8))
                .waitingFor(WaitStrategy.until("the guest has echoed a byte", vm -> {
                    vm.console().write("z");
                    return vm.memory().readLong(FakeProvider.ECHO_COUNT) > 0;
                }));

        @Test
        void t(VirtualMachine vm) {
            assertThat(vm.memory().readLong(FakeProvider.ECHO_COUNT)).isPositive();
        }
    }

    @IgnitionTest
    static class NeverReadyByPattern {
        static final VmTemplate VM = VmTemplate.boot(TestGuests.echo()).backend(FakeProvider.NAME)
                .configure(b -> b.memoryMiB(8)).waitingFor(Pattern.compile("login: ?$"))
                .startupTimeout(Duration.ofMillis(300));

        @Test
        void t() {}
    }

    @IgnitionTest
    static class ReadyByVsockWithoutVsock {
        static final VmTemplate VM = VmTemplate.boot(TestGuests.echo()).backend(FakeProvider.NAME)
                .configure(b -> b.memoryMiB(8)).waitingFor(WaitStrategy.vsockPort(5000));

        @Test
        void t() {}
    }

    @IgnitionTest
    static class BeforeAllWantsVm {
        static final VmTemplate VM = echo();

        @BeforeAll
        static void all(VirtualMachine vm) {}

        @Test
        void t() {}
    }

    private int liveBefore;
    private Set<Path> dirsBefore;

    @BeforeEach
    void reset() throws IOException {
        SEEN.clear();
        WRITTEN.clear();
        FakeProvider.unavailableReason = null;
        liveBefore = FakeProvider.LIVE_VMS.get();
        dirsBefore = templateDirs();
    }

    @AfterEach
    void nothingLeaks() throws IOException {
        FakeProvider.unavailableReason = null;
        assertThat(FakeProvider.LIVE_VMS.get()).as("VMs left open").isEqualTo(liveBefore);
        assertThat(templateDirs()).as("temporary snapshot stores left behind").isEqualTo(dirsBefore);
        for (VirtualMachine vm : SEEN) {
            assertThat(vm.state()).isEqualTo(VmState.CLOSED);
        }
    }

    static Set<Path> templateDirs() throws IOException {
        try (Stream<Path> s = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return new HashSet<>(s.filter(p -> p.getFileName().toString().startsWith("ignition-vmtemplate-")).toList());
        }
    }

    static EngineExecutionResults run(Class<?> sample, String... config) {
        var kit = EngineTestKit.engine("junit-jupiter").selectors(selectClass(sample));
        for (int i = 0; i < config.length; i += 2) {
            kit = kit.configurationParameter(config[i], config[i + 1]);
        }
        return kit.execute();
    }

    static List<String> reports(EngineExecutionResults r, String key) {
        return r.allEvents().reportingEntryPublished().stream()
                .map(e -> e.getRequiredPayload(ReportEntry.class).getKeyValuePairs().get(key))
                .filter(Objects::nonNull).toList();
    }

    static Throwable containerFailure(EngineExecutionResults r) {
        List<Event> failed = r.containerEvents().failed().list();
        assertThat(failed).hasSize(1);
        return failed.getFirst().getRequiredPayload(TestExecutionResult.class).getThrowable().orElseThrow();
    }

    /** Runs {@code sample} with forks made when asked (no pool), so that VM counts are exact. */
    static EngineExecutionResults runWithoutPool(Class<?> sample) {
        String before = System.getProperty("ignition.junit.forkPool");
        System.setProperty("ignition.junit.forkPool", "0");
        try {
            return run(sample);
        } finally {
            if (before == null) {
                System.clearProperty("ignition.junit.forkPool");
            } else {
                System.setProperty("ignition.junit.forkPool", before);
            }
        }
    }

    @Test
    void forksComeFromAPoolMadeAheadAndTheRestAreClosedWithTheClass() {
        int created = FakeProvider.CREATED_VMS.get();
        EngineExecutionResults r = run(Forks.class); // the default pool of 2
        r.testEvents().assertStatistics(s -> s.started(4).succeeded(4).failed(0));
        assertThat(new HashSet<>(SEEN)).hasSize(3);
        assertThat(WRITTEN).containsExactly(0xaL, 0xbL, 0xcL);
        // The template, the 4 forks the tests took, and up to 2 made ahead but never taken.
        assertThat(FakeProvider.CREATED_VMS.get() - created).isBetween(1 + 4, 1 + 4 + 2);
    }

    @Test
    void everyTestGetsItsOwnForkOfTheSnapshotAndSeesNoOtherTestsChanges() {
        int created = FakeProvider.CREATED_VMS.get();
        EngineExecutionResults r = runWithoutPool(Forks.class);

        r.testEvents().assertStatistics(s -> s.started(4).succeeded(4).failed(0));
        assertThat(SEEN).hasSize(3);
        assertThat(Collections.newSetFromMap(new IdentityHashMap<>()).addAll(SEEN)).isTrue();
        assertThat(new HashSet<>(SEEN)).hasSize(3);
        assertThat(WRITTEN).containsExactly(0xaL, 0xbL, 0xcL);
        // one template VM, then one fork per test (d's @BeforeEach asked for one)
        assertThat(FakeProvider.CREATED_VMS.get() - created).isEqualTo(1 + 4);
        assertThat(reports(r, "ignition.fork")).hasSize(4).allMatch(s -> s.matches("forked in [0-9.]+ ms"));
        assertThat(reports(r, "ignition.template")).singleElement().asString()
                .startsWith("booted and ready in").contains("full snapshot of 8 MiB written in");
    }

    @Test
    void theTemplatesAndEachForksTimesArePrinted() {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream out = System.out;
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            run(Forks.class).testEvents().assertStatistics(s -> s.succeeded(4));
            run(NoVmWanted.class).testEvents().assertStatistics(s -> s.succeeded(1));
        } finally {
            System.setOut(out);
        }
        List<String> lines = captured.toString(StandardCharsets.UTF_8).lines()
                .filter(l -> l.startsWith("[ignition] ")).toList();
        assertThat(lines).hasSize(8);
        assertThat(lines.get(0)).matches("\\[ignition] Forks\\.VM: template booted and ready in [0-9.]+ ms, prepared in"
                + " [0-9.]+ ms, full snapshot of 8 MiB written in [0-9.]+ ms");
        assertThat(lines.subList(1, 5)).allMatch(l -> l.matches("\\[ignition] Forks\\.VM: forked for [a-d]\\(.*\\) in [0-9.]+ ms"))
                .anyMatch(l -> l.startsWith("[ignition] Forks.VM: forked for c(Console, VirtualMachine) in "));
        assertThat(lines.get(5)).matches("\\[ignition] Forks\\.VM: 4 forks in [0-9.]+ ms median \\([0-9.]+ to [0-9.]+ ms\\)");
        assertThat(lines.get(6)).startsWith("[ignition] NoVmWanted.VM: template booted and ready in");
        assertThat(lines.get(7)).isEqualTo("[ignition] NoVmWanted.VM: no forks (no test took a VM)");
    }

    @Test
    void aTestThatTakesNoVmGetsNoFork() {
        int created = FakeProvider.CREATED_VMS.get();
        run(NoVmWanted.class).testEvents().assertStatistics(s -> s.succeeded(1));
        assertThat(FakeProvider.CREATED_VMS.get() - created).as("the template VM only").isEqualTo(1);
    }

    @Test
    void aFailingTestsVmIsClosedAndItsConsoleReported() {
        EngineExecutionResults r = run(Failing.class);

        r.testEvents().assertStatistics(s -> s.started(1).failed(1));
        assertThat(SEEN).hasSize(1);
        assertThat(SEEN.getFirst().state()).isEqualTo(VmState.CLOSED);
        assertThat(reports(r, "ignition.console")).singleElement().isEqualTo("visible in the report");
    }

    @Test
    void parallelTestsEachGetTheirOwnFork() {
        EngineExecutionResults r = run(Parallel.class,
                "junit.jupiter.execution.parallel.enabled", "true",
                "junit.jupiter.execution.parallel.mode.default", "concurrent",
                "junit.jupiter.execution.parallel.config.strategy", "fixed",
                "junit.jupiter.execution.parallel.config.fixed.parallelism", "4");

        r.testEvents().assertStatistics(s -> s.started(4).succeeded(4).failed(0));
        assertThat(new HashSet<>(SEEN)).hasSize(4);
        assertThat(WRITTEN).containsExactlyInAnyOrder(0x11L, 0x12L, 0x13L, 0x14L);
    }

    @Test
    void nestedClassesForkFromTheEnclosingClassesSnapshot() {
        int created = FakeProvider.CREATED_VMS.get();
        EngineExecutionResults r = runWithoutPool(Outer.class);

        r.testEvents().assertStatistics(s -> s.started(2).succeeded(2).failed(0));
        assertThat(FakeProvider.CREATED_VMS.get() - created).as("one template, two forks").isEqualTo(3);
        assertThat(reports(r, "ignition.template")).hasSize(1);
    }

    @Test
    void skipsWithTheProbesReasonWhereTheBackendIsUnavailable() {
        FakeProvider.unavailableReason = "no fake hypervisor today";
        int created = FakeProvider.CREATED_VMS.get();
        EngineExecutionResults r = run(Forks.class);

        r.testEvents().assertStatistics(s -> s.started(0));
        List<Event> skipped = r.containerEvents().skipped().list();
        assertThat(skipped).singleElement().extracting(e -> e.getRequiredPayload(String.class)).asString()
                .isEqualTo("backend 'fake' unavailable: no fake hypervisor today");
        assertThat(FakeProvider.CREATED_VMS.get()).isEqualTo(created);
    }

    @Test
    void aBackendMissingFromTheClassPathFailsTheClassWithTheArtifactToAdd() {
        int created = FakeProvider.CREATED_VMS.get();
        EngineExecutionResults r = run(KvmNotOnTheClassPath.class);

        r.containerEvents().assertStatistics(s -> s.skipped(0));
        assertThat(containerFailure(r))
                .hasRootCauseInstanceOf(ExtensionConfigurationException.class)
                .hasMessageContaining("Backend 'kvm' is not on the test class path (found: fake).")
                .hasMessageContaining("dev.ignition:ignition-kvm");
        assertThat(FakeProvider.CREATED_VMS.get()).isEqualTo(created);
    }

    @Test
    void aClassWithoutTemplateFailsWithAnExplanation() {
        assertThat(containerFailure(run(NoTemplate.class)))
                .hasMessageContaining("declares no static VmTemplate field")
                .hasMessageContaining("VmTemplate.boot(");
    }

    @Test
    void aClassWithTwoTemplatesFailsWithAnExplanation() {
        assertThat(containerFailure(run(TwoTemplates.class)))
                .hasMessageContaining("declares 2 static VmTemplate fields [ONE, TWO]");
    }

    @Test
    void aTemplateThatNeverGetsReadyFailsWithItsConsoleOutput() {
        Throwable t = containerFailure(run(NeverReady.class));
        assertThat(t).hasMessageContaining("the template VM of NeverReady.VM was not ready")
                .hasMessageContaining("'never printed' did not appear")
                .hasMessageContaining("echo ready");
    }

    @Test
    void templatesWaitForAConsoleMatchOrACondition() {
        run(ReadyByPattern.class).testEvents().assertStatistics(s -> s.started(1).succeeded(1));
        run(ReadyByCondition.class).testEvents().assertStatistics(s -> s.started(1).succeeded(1));
    }

    @Test
    void aTemplateWhosePatternNeverMatchesFailsWithItsConsoleOutput() {
        assertThat(containerFailure(run(NeverReadyByPattern.class)))
                .hasMessageContaining("the template VM of NeverReadyByPattern.VM was not ready")
                .hasMessageContaining("nothing matching /login: ?$/ appeared")
                .hasMessageContaining("echo ready");
    }

    @Test
    void aTemplateWaitingForVsockWithoutADeviceSaysHowToAddOne() {
        assertThat(containerFailure(run(ReadyByVsockWithoutVsock.class)))
                .hasMessageContaining("the template VM of ReadyByVsockWithoutVsock.VM was not ready: cannot wait for vsock"
                        + " port 5000: the VM has no vsock device; add one with configure(b -> b.vsock(3))");
    }

    @Test
    void beforeAllCannotTakeAForkedVm() {
        assertThat(containerFailure(run(BeforeAllWantsVm.class)))
                .hasMessageContaining("only test methods and their @BeforeEach/@AfterEach methods can take a VirtualMachine");
    }

    @Test
    void aTestCanTakeItsForksNetworkWithItsOwnForwardedPorts() {
        Assumptions.assumeTrue(Stream.of(System.getenv().getOrDefault("PATH", "")
                        .split(File.pathSeparator)).anyMatch(d -> !d.isEmpty() && Files.isExecutable(Path.of(d, "passt"))),
                "passt is not installed (apt-get install passt)");
        PORTS.clear();
        run(Networked.class).testEvents().assertStatistics(s -> s.started(2).succeeded(2).failed(0));
        assertThat(PORTS).hasSize(2).doesNotHaveDuplicates().allMatch(p -> p > 0);
    }

    @Test
    void aNetworkParameterWithoutANetworkSaysHowToAddOne() {
        List<Event> failed = run(NetworkWithoutNetwork.class).testEvents().failed().list();
        assertThat(failed).singleElement().satisfies(e -> assertThat(
                e.getRequiredPayload(TestExecutionResult.class).getThrowable().orElseThrow())
                .hasMessageContaining("has no network device")
                .hasMessageContaining("Network.userMode().forwardTcp(0, <guest port>)"));
    }
}
