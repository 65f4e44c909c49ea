package dev.ignition.initramfs;

import java.util.Arrays;
import java.util.Objects;

/**
 * One entry of an {@link Initramfs}. Paths are absolute ({@code /bin/sh}); modes hold only the
 * permission bits ({@code 07777}): the entry kind supplies the file type.
 */
public sealed interface InitramfsEntry {
    /** Absolute, normalized path inside the guest, e.g. {@code /etc/hostname}. */
    String path();

    /** Permission bits ({@code 0} to {@code 07777}). */
    int mode();

    /** A regular file. */
    record File(String path, int mode, byte[] content) implements InitramfsEntry {
        public File {
            Objects.requireNonNull(path, "path");
            content = content.clone();
        }

        @Override
        public byte[] content() {
            return content.clone();
        }

        /** Content length without copying it. */
        public int size() {
            return content.length;
        }

        byte[] contentUnsafe() {
            return content;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof File f && f.path.equals(path) && f.mode == mode && Arrays.equals(f.content, content);
        }

        @Override
        public int hashCode() {
            return Objects.hash(path, mode, Arrays.hashCode(content));
        }

        @Override
        public String toString() {
            return "File[" + path + ", 0" + Integer.toOctalString(mode) + ", " + content.length + " bytes]";
        }
    }

    /** A directory. */
    record Directory(String path, int mode) implements InitramfsEntry {
        public Directory {
            Objects.requireNonNull(path, "path");
        }
    }

    /** A symbolic link to {@code target} (relative or absolute, not checked for existence). */
    record Symlink(String path, String target) implements InitramfsEntry {
        public Symlink {
            Objects.requireNonNull(path, "path");
            Objects.requireNonNull(target, "target");
        }

        @Override
        public int mode() {
            return 0777;
        }
    }

    /** A character or block device node. */
    record Device(String path, int mode, DeviceKind kind, int major, int minor) implements InitramfsEntry {
        public Device {
            Objects.requireNonNull(path, "path");
            Objects.requireNonNull(kind, "kind");
        }
    }

    /** Kinds of device node. */
    enum DeviceKind {
        CHARACTER,
        BLOCK
    }
}
