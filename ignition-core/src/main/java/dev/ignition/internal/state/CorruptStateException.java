package dev.ignition.internal.state;

import dev.ignition.IgnitionException;
import java.io.Serial;
import org.jspecify.annotations.Nullable;

/**
 * Saved state that cannot be decoded or does not fit: truncated, of another record or version, a
 * field of the wrong type, a value out of range. The message names what was being read (the
 * context given to {@link StateReader#open}), the record, the field and the problem; snapshot
 * files are untrusted, so this is the only exception a decoder lets out.
 */
public class CorruptStateException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;
    private final @Nullable String record;
    private final @Nullable String field;

    /**
     * @param message the whole message, naming context, record and field
     * @param record the record's tag, or null when the problem is not inside a record
     * @param field the field's name, or null when the problem is the record itself
     */
    public CorruptStateException(String message, @Nullable String record, @Nullable String field) {
        super(message);
        this.record = record;
        this.field = field;
    }

    /** The tag of the record that failed, e.g. {@code UART}, or null. */
    public @Nullable String record() {
        return record;
    }

    /** The field that failed, or null when the record as a whole did. */
    public @Nullable String field() {
        return field;
    }
}
