package dev.ignition.hosttools;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.stream.Stream;
import net.jqwik.api.lifecycle.LifecycleContext;
import net.jqwik.api.lifecycle.SkipExecutionHook;

/**
 * Programs on the host that some unit tests drive, with the Debian package that brings each
 * ({@code scripts/test-tools.sh} installs them). A test that needs a missing one skips with
 * {@link #missingReason()}. jqwik properties must skip through a {@link SkipExecutionHook}
 * ({@code @AddLifecycleHook(HostTool.NeedsBusybox.class)}): an assumption inside a property only
 * rejects each try, and a property whose every try is rejected fails as "exhausted".
 */
public enum HostTool {
    BUSYBOX("busybox", "busybox-static", "/bin/busybox", "/usr/bin/busybox"),
    CPIO("GNU cpio", "cpio", "/usr/bin/cpio", "/bin/cpio");

    private final String what;
    private final String debianPackage;
    private final String[] paths;

    HostTool(String what, String debianPackage, String... paths) {
        this.what = what;
        this.debianPackage = debianPackage;
        this.paths = paths;
    }

    /** The first executable among the tool's usual paths. */
    public Optional<Path> find() {
        return Stream.of(paths).map(Path::of).filter(Files::isExecutable).findFirst();
    }

    /** Why tests that need the tool skip. */
    public String missingReason() {
        return what + " is not installed (Debian package " + debianPackage
                + "; ./ignition test installs it when run as root)";
    }

    private SkipExecutionHook.SkipResult skipUnlessPresent() {
        return find().isPresent() ? SkipExecutionHook.SkipResult.doNotSkip()
                : SkipExecutionHook.SkipResult.skip(missingReason());
    }

    /** Skips a jqwik property or container where busybox is missing. */
    public static final class NeedsBusybox implements SkipExecutionHook {
        @Override
        public SkipResult shouldBeSkipped(LifecycleContext context) {
            return BUSYBOX.skipUnlessPresent();
        }
    }

    /** Skips a jqwik property or container where GNU cpio is missing. */
    public static final class NeedsCpio implements SkipExecutionHook {
        @Override
        public SkipResult shouldBeSkipped(LifecycleContext context) {
            return CPIO.skipUnlessPresent();
        }
    }
}
