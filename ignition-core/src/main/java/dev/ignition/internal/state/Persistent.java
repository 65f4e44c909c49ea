package dev.ignition.internal.state;

/**
 * A built-in device whose snapshot state is a typed record, encoded with {@link StateWriter}.
 * Its {@code Device.saveState()} / {@code restoreState(byte[])} (the SPI user devices implement
 * with their own bytes) are then just the record's encoding: {@code saveTyped().encode()} and
 * {@code restoreTyped(State.decode(bytes, …))}.
 *
 * @param <S> the device's state record
 */
public interface Persistent<S> {
    /** The device's state now; called with the VM paused. */
    S saveTyped();

    /**
     * Takes over {@code state}, before the restored VM runs.
     *
     * @throws CorruptStateException if the state does not fit this device (queue count, offered
     *     features, addresses outside guest memory); the device is left as it was
     */
    void restoreTyped(S state);
}
