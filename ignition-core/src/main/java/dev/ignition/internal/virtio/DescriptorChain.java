package dev.ignition.internal.virtio;

import dev.ignition.memory.GuestMemory;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * One validated descriptor chain: its head index, then the device-readable buffers followed by
 * the device-writable ones, in chain order. Every buffer was checked to lie inside guest RAM.
 *
 * @param head the index to report in the used ring
 * @param readable buffers the device reads (the driver's request)
 * @param writable buffers the device writes (its response)
 */
public record DescriptorChain(int head, List<Buffer> readable, List<Buffer> writable) {
    /** A guest-physical buffer, {@code [address, address + length)}. */
    public record Buffer(long address, long length) {}

    public DescriptorChain {
        readable = List.copyOf(readable);
        writable = List.copyOf(writable);
    }

    public long readableLength() {
        return total(readable);
    }

    public long writableLength() {
        return total(writable);
    }

    /** Copies {@code into.length} bytes starting {@code offset} bytes into the readable area. */
    public void read(GuestMemory memory, long offset, byte[] into) {
        int done = 0;
        long skip = offset;
        for (Buffer b : readable) {
            if (done == into.length) {
                break;
            }
            if (skip >= b.length()) {
                skip -= b.length();
                continue;
            }
            int n = (int) Math.min(b.length() - skip, into.length - done);
            MemorySegment.copy(memory.slice(b.address() + skip, n), ValueLayout.JAVA_BYTE, 0, into, done, n);
            done += n;
            skip = 0;
        }
        if (done < into.length) {
            throw new VirtioProtocolException("the request's readable buffers hold fewer than " + (offset + into.length)
                    + " bytes");
        }
    }

    /** Writes {@code data} starting {@code offset} bytes into the writable area, recording the pages as dirty. */
    public void write(GuestMemory memory, long offset, byte[] data) {
        forEachWritable(offset, data.length, (address, from, n) -> {
            MemorySegment.copy(data, (int) from, memory.slice(address, n), ValueLayout.JAVA_BYTE, 0, n);
            memory.markDirty(address, n);
        });
    }

    /** What to do with one piece of a writable range: guest address, offset in the range, length. */
    @FunctionalInterface
    public interface Piece {
        void accept(long address, long rangeOffset, int length);
    }

    /**
     * Calls {@code piece} for each part of the writable range {@code [offset, offset + length)},
     * in order; each part lies in one buffer and is at most {@link Integer#MAX_VALUE} bytes.
     */
    public void forEachWritable(long offset, long length, Piece piece) {
        forEach(writable, offset, length, piece);
    }

    /** As {@link #forEachWritable}, over the readable buffers. */
    public void forEachReadable(long offset, long length, Piece piece) {
        forEach(readable, offset, length, piece);
    }

    private static void forEach(List<Buffer> buffers, long offset, long length, Piece piece) {
        long skip = offset;
        long done = 0;
        for (Buffer b : buffers) {
            if (done == length) {
                return;
            }
            if (skip >= b.length()) {
                skip -= b.length();
                continue;
            }
            long avail = Math.min(b.length() - skip, length - done);
            long at = b.address() + skip;
            while (avail > 0) {
                int n = (int) Math.min(avail, Integer.MAX_VALUE);
                piece.accept(at, done, n);
                at += n;
                done += n;
                avail -= n;
            }
            skip = 0;
        }
        if (done < length) {
            throw new VirtioProtocolException("the request's buffers hold fewer than " + (offset + length) + " bytes");
        }
    }

    private static long total(List<Buffer> buffers) {
        long t = 0;
        for (Buffer b : buffers) {
            t += b.length();
        }
        return t;
    }
}
