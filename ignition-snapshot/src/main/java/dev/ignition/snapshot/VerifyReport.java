package dev.ignition.snapshot;

import java.util.List;

/**
 * The result of {@link SnapshotStore#verify()}.
 *
 * @param layersChecked layer directories examined
 * @param namesChecked snapshot names examined
 * @param problems every problem found; empty when the store is sound
 */
public record VerifyReport(int layersChecked, int namesChecked, List<Problem> problems) {
    public VerifyReport {
        problems = List.copyOf(problems);
    }

    /** True when no problem was found. */
    public boolean ok() {
        return problems.isEmpty();
    }

    /**
     * One problem.
     *
     * @param subject what it concerns, e.g. {@code layer 3fa2…} or {@code snapshot 'base'}
     * @param message what is wrong
     */
    public record Problem(String subject, String message) {
        @Override
        public String toString() {
            return subject + ": " + message;
        }
    }
}
