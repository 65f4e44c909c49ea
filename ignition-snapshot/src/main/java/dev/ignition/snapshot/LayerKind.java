package dev.ignition.snapshot;

/** The two kinds of memory layer. */
public enum LayerKind {
    /** Every non-zero page of guest memory at its guest offset; a chain's root. */
    FULL,
    /** Only the pages dirtied since the parent layer, packed, plus an index of which pages. */
    DIFF
}
