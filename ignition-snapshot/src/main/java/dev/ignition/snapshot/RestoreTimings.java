package dev.ignition.snapshot;

/**
 * Per-stage wall-clock time of a restore, in nanoseconds, like the seed's restore breakdown.
 *
 * @param resolveValidateNanos reading and validating every manifest, index and state blob of the
 *     chain (and, with {@link Verification#FULL}, every file's checksum)
 * @param mapNanos mapping the root image copy-on-write
 * @param overlayNanos copying each diff page once, from the newest layer holding it
 * @param totalNanos the whole call
 * @param chainDepth layers in the chain, root included
 * @param pagesOverlaid unique diff pages copied over the root image
 */
public record RestoreTimings(long resolveValidateNanos, long mapNanos, long overlayNanos, long totalNanos,
        int chainDepth, long pagesOverlaid) {}
