package dev.ignition.device;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A raw disk image the guest sees as a virtio-blk device ({@code /dev/vda}, {@code /dev/vdb}...
 * in the order disks are added to the builder).
 *
 * <pre>{@code
 * VirtualMachine vm = VirtualMachine.builder()
 *         .guest(LinuxGuests.defaultGuest())
 *         .disk(Disk.of(Path.of("rootfs.ext4")))                       // read-write
 *         .disk(Disk.of(Path.of("data.img")).asReadOnly().withId("data")) // read-only, serial "data"
 *         .build();
 * }</pre>
 *
 * <p>The file is opened when the VM is built and closed when it closes; its size, rounded down to
 * whole 512-byte sectors, is the disk's capacity. Writes go straight to the file (no copy on
 * write); {@code flush} from the guest is an {@code fsync}.
 *
 * @param image the raw image file; it must exist
 * @param readOnly whether the guest may only read it (writes fail with an I/O error)
 * @param id the serial number the guest reads (at most {@value #MAX_ID_BYTES} bytes of UTF-8)
 */
public record Disk(Path image, boolean readOnly, String id) {
    /** The longest serial a virtio-blk device reports. */
    public static final int MAX_ID_BYTES = 20;

    public Disk {
        Objects.requireNonNull(image, "image");
        Objects.requireNonNull(id, "id");
        if (id.getBytes(StandardCharsets.UTF_8).length > MAX_ID_BYTES) {
            throw new IllegalArgumentException("disk id '" + id + "' is longer than " + MAX_ID_BYTES + " bytes of UTF-8");
        }
    }

    /** {@code image}, read-write, with its file name (cut to {@value #MAX_ID_BYTES} bytes) as id. */
    public static Disk of(Path image) {
        Path name = image.getFileName();
        String id = name == null ? "" : name.toString();
        while (id.getBytes(StandardCharsets.UTF_8).length > MAX_ID_BYTES) {
            id = id.substring(0, id.length() - 1);
        }
        return new Disk(image, false, id);
    }

    /** This disk, read-only. */
    public Disk asReadOnly() {
        return new Disk(image, true, id);
    }

    /** This disk with {@code id} as its serial. */
    public Disk withId(String id) {
        return new Disk(image, readOnly, id);
    }
}
