package dev.ignition.internal.device;

/** The host side of a serial port: where transmitted bytes go and received bytes come from. */
public interface SerialIo {
    /** The guest transmitted {@code len} bytes. */
    void emit(byte[] bytes, int off, int len);

    /** The next byte for the guest, or -1 if none is waiting. */
    int pollInput();

    /** Registers what to call when input becomes available (from any thread). */
    void onInput(Runnable callback);
}
