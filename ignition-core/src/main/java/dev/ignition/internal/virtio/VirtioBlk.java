package dev.ignition.internal.virtio;

import dev.ignition.IgnitionException;
import dev.ignition.memory.GuestMemory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * virtio-blk (virtio 1.x section 5.2) over a raw image file: read, write, flush and get-id, with
 * an optional read-only mode. Requests run synchronously on the notifying vCPU thread.
 *
 * <p>A request is a 16-byte header (type, reserved, sector) in the readable buffers, data, and a
 * status byte as the last writable byte. A request outside the disk, a write to a read-only disk
 * or a failed host I/O completes with {@code VIRTIO_BLK_S_IOERR}; unknown types with
 * {@code VIRTIO_BLK_S_UNSUPP}. A request with no room for a status byte or a header is a
 * protocol violation (the device then needs a reset). The capacity is the file size rounded down
 * to whole 512-byte sectors, fixed when the device is created.
 */
public final class VirtioBlk implements VirtioDeviceModel {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioBlk.class);
    public static final int DEVICE_ID = 2;
    public static final int SECTOR = 512;
    static final int QUEUE_SIZE = 256;
    /** Segments per request offered to the driver: the queue less the header and status descriptors. */
    static final int SEG_MAX = QUEUE_SIZE - 2;
    static final int ID_BYTES = 20;

    static final long F_SEG_MAX = 1L << 2;
    static final long F_RO = 1L << 5;
    static final long F_FLUSH = 1L << 9;

    static final int T_IN = 0;
    static final int T_OUT = 1;
    static final int T_FLUSH = 4;
    static final int T_GET_ID = 8;
    static final byte S_OK = 0;
    static final byte S_IOERR = 1;
    static final byte S_UNSUPP = 2;

    private final Path path;
    private final FileChannel file;
    private final boolean readOnly;
    private final byte[] id;
    private final long capacitySectors;

    /**
     * Opens {@code image} (for writing too unless {@code readOnly}).
     *
     * @param id the serial the guest reads with get-id (at most 20 bytes of UTF-8 are used)
     * @throws IgnitionException if the file cannot be opened
     */
    public VirtioBlk(Path image, boolean readOnly, String id) {
        this.path = image;
        this.readOnly = readOnly;
        byte[] idBytes = id.getBytes(StandardCharsets.UTF_8);
        this.id = Arrays.copyOf(idBytes, Math.min(idBytes.length, ID_BYTES));
        try {
            this.file = readOnly ? FileChannel.open(image, StandardOpenOption.READ)
                    : FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE);
            this.capacitySectors = file.size() / SECTOR;
        } catch (IOException e) {
            throw new IgnitionException("cannot open disk image " + image + (readOnly ? " for reading: " : ": ")
                    + e.getMessage(), e);
        }
    }

    public Path path() {
        return path;
    }

    boolean isOpen() {
        return file.isOpen();
    }

    public long capacitySectors() {
        return capacitySectors;
    }

    @Override
    public int deviceId() {
        return DEVICE_ID;
    }

    @Override
    public String kind() {
        return "virtio-blk";
    }

    @Override
    public long features() {
        return F_SEG_MAX | F_FLUSH | (readOnly ? F_RO : 0);
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public int queueMaxSize(int index) {
        return QUEUE_SIZE;
    }

    @Override
    public byte[] config() {
        // capacity (le64), size_max (le32, unused), seg_max (le32)
        return ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(capacitySectors).putInt(0)
                .putInt(SEG_MAX).array();
    }

    @Override
    public int handle(int queue, DescriptorChain chain, GuestMemory memory) {
        long writable = chain.writableLength();
        if (writable < 1) {
            throw new VirtioProtocolException("block request has no writable status byte");
        }
        byte[] header = new byte[16];
        chain.read(memory, 0, header);
        ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
        int type = h.getInt(0);
        long sector = h.getLong(8);
        long dataIn = writable - 1; // device-writable data, before the status byte
        long dataOut = chain.readableLength() - 16;
        byte status;
        long written = 0;
        switch (type) {
            case T_IN -> {
                status = inRange(sector, dataIn) ? read(chain, memory, sector, dataIn) : S_IOERR;
                written = status == S_OK ? dataIn : 0;
            }
            case T_OUT -> status = readOnly || !inRange(sector, dataOut) ? S_IOERR : write(chain, memory, sector, dataOut);
            case T_FLUSH -> status = flush();
            case T_GET_ID -> {
                long n = Math.min(dataIn, ID_BYTES);
                byte[] out = Arrays.copyOf(id, (int) n); // zero-padded, NUL-terminated if shorter
                chain.write(memory, 0, out);
                written = n;
                status = S_OK;
            }
            default -> status = S_UNSUPP;
        }
        chain.write(memory, writable - 1, new byte[] {status});
        return (int) Math.min(written + 1, Integer.MAX_VALUE);
    }

    /** Whole sectors and inside the disk, with unsigned sector numbers and no overflow. */
    private boolean inRange(long sector, long bytes) {
        if (bytes % SECTOR != 0 || sector < 0 || sector > capacitySectors) {
            return false;
        }
        return bytes / SECTOR <= capacitySectors - sector;
    }

    private byte read(DescriptorChain chain, GuestMemory memory, long sector, long length) {
        try {
            chain.forEachWritable(0, length, (address, off, n) -> {
                ByteBuffer dst = memory.slice(address, n).asByteBuffer();
                long pos = sector * SECTOR + off;
                try {
                    while (dst.hasRemaining()) {
                        if (file.read(dst, pos + dst.position()) < 0) {
                            while (dst.hasRemaining()) {
                                dst.put((byte) 0); // the file shrank under us: read zeroes
                            }
                        }
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                memory.markDirty(address, n);
            });
            return S_OK;
        } catch (UncheckedIOException e) {
            return ioError("read", sector, e.getCause());
        }
    }

    private byte write(DescriptorChain chain, GuestMemory memory, long sector, long length) {
        try {
            chain.forEachReadable(16, length, (address, off, n) -> {
                ByteBuffer src = memory.slice(address, n).asByteBuffer();
                long pos = sector * SECTOR + off;
                try {
                    while (src.hasRemaining()) {
                        file.write(src, pos + src.position());
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            return S_OK;
        } catch (UncheckedIOException e) {
            return ioError("write", sector, e.getCause());
        }
    }

    private byte flush() {
        if (readOnly) {
            return S_OK;
        }
        try {
            file.force(false);
            return S_OK;
        } catch (IOException e) {
            return ioError("flush", 0, e);
        }
    }

    /**
     * fsyncs the image (data and metadata) for a snapshot; a no-op for a read-only disk.
     *
     * @throws IgnitionException if the fsync fails
     */
    public void sync() {
        if (readOnly) {
            return;
        }
        try {
            file.force(true);
        } catch (IOException e) {
            throw new IgnitionException("cannot flush disk image " + path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void flushForSnapshot() {
        sync();
    }

    private byte ioError(String op, long sector, IOException e) {
        LOG.warn("virtio-blk {}: {} at sector {} failed: {}", path, op, sector, e.toString());
        return S_IOERR;
    }

    @Override
    public void close() {
        try {
            file.close();
        } catch (IOException e) {
            LOG.warn("closing disk image {} failed: {}", path, e.toString());
        }
    }
}
