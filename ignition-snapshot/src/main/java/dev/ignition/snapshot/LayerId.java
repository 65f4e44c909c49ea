package dev.ignition.snapshot;

import java.util.Objects;

/**
 * A layer's identity: the lower-case hex SHA-256 of its {@code manifest.json}. The manifest holds
 * the checksums of every file of the layer and its parent's id, so the id covers the layer's
 * content and its whole ancestry.
 *
 * @param hex 64 lower-case hex digits
 */
public record LayerId(String hex) {
    public LayerId {
        Objects.requireNonNull(hex, "hex");
        if (!isValid(hex)) {
            throw new IllegalArgumentException("not a layer id (64 lower-case hex digits): '" + hex + "'");
        }
    }

    /** Whether {@code s} has the form of a layer id. */
    public static boolean isValid(String s) {
        if (s.length() != 64) {
            return false;
        }
        for (int i = 0; i < 64; i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return false;
            }
        }
        return true;
    }

    /** The first 12 digits, for logs. */
    public String shortForm() {
        return hex.substring(0, 12);
    }

    @Override
    public String toString() {
        return hex;
    }
}
