package dev.ignition.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Set;
import org.junit.jupiter.api.Test;

class SnapshotNamesTest {
    @Test
    void theBaseNameFirstThenNumberedOnes() {
        assertThat(SnapshotNames.next("boot", Set.of())).isEqualTo("boot");
        assertThat(SnapshotNames.next("boot", Set.of("boot"))).isEqualTo("boot-2");
        assertThat(SnapshotNames.next("boot", Set.of("boot", "boot-2", "boot-4"))).isEqualTo("boot-3");
    }

    @Test
    void namesTheStoreWouldRejectAreRejectedWithItsRule() {
        for (String bad : new String[] {"", "../x", "-x", "a/b", "x".repeat(129)}) {
            assertThatThrownBy(() -> SnapshotNames.check(bad)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("use 1-128 characters from [A-Za-z0-9._-]");
        }
        SnapshotNames.check("a.b_c-1");
    }
}
