package dev.ignition.initramfs;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeMap;
import java.util.zip.GZIPOutputStream;
import org.jspecify.annotations.Nullable;

/**
 * An immutable initramfs: a set of entries written as a cpio "newc" archive, the format the
 * Linux kernel unpacks into its root file system at boot.
 *
 * <pre>{@code
 * Initramfs initramfs = Initramfs.builder()
 *         .file("/bin/busybox", Path.of("/bin/busybox"), 0755)
 *         .symlink("/bin/sh", "busybox")
 *         .charDevice("/dev/console", 0600, 5, 1)
 *         .init("#!/bin/sh\nexec sh\n")
 *         .build();
 * Files.write(Path.of("initramfs.cpio"), initramfs.toByteArray());
 * }</pre>
 *
 * <p>Entries are written parents first, in path order, with owner root, mtime 0 and inode
 * numbers counted from 1, so the same entries always give the same bytes. Parent directories
 * that were not added explicitly are written with mode {@code 0755}.
 */
public final class Initramfs {
    private final List<InitramfsEntry> entries;

    private Initramfs(List<InitramfsEntry> entries) {
        this.entries = List.copyOf(entries);
    }

    /** A new, empty builder. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this initramfs's entries, to add to or replace them. */
    public Builder toBuilder() {
        Builder b = new Builder();
        for (InitramfsEntry e : entries) {
            b.put(e);
        }
        return b;
    }

    /** The entries in archive order (parents before children), including implicit directories. */
    public List<InitramfsEntry> entries() {
        return entries;
    }

    /** Writes the archive (uncompressed newc, ending with the {@code TRAILER!!!} entry). */
    public void writeTo(OutputStream out) throws IOException {
        CpioNewcWriter w = new CpioNewcWriter(out);
        for (InitramfsEntry e : entries) {
            w.write(e);
        }
        w.finish();
    }

    /** The archive as bytes (uncompressed; every kernel accepts it). */
    public byte[] toByteArray() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            writeTo(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** The archive gzip-compressed (needs {@code CONFIG_RD_GZIP} in the guest kernel). */
    public byte[] toGzipByteArray() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            writeTo(gz);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    @Override
    public String toString() {
        return "Initramfs[" + entries.size() + " entries]";
    }

    /**
     * Collects entries; {@link #build()} reports every problem found at once. Adding an entry at
     * a path that already has one replaces it, except that a non-directory cannot replace a
     * directory that has children.
     */
    public static final class Builder {
        private final TreeMap<String, InitramfsEntry> byPath = new TreeMap<>();
        private final List<String> problems = new ArrayList<>();

        private Builder() {}

        /** Adds a regular file with {@code content}. */
        public Builder file(String path, byte[] content, int mode) {
            String p = normalize(path);
            if (p != null && checkMode(p, mode)) {
                put(new InitramfsEntry.File(p, mode, content));
            }
            return this;
        }

        /** Adds a regular file holding {@code text} in UTF-8. */
        public Builder file(String path, String text, int mode) {
            return file(path, text.getBytes(StandardCharsets.UTF_8), mode);
        }

        /** Adds a regular file with the current content of the host file {@code source}. */
        public Builder file(String path, Path source, int mode) {
            byte[] content;
            try {
                content = Files.readAllBytes(source);
            } catch (IOException e) {
                problems.add("cannot read " + source + " for " + path + ": " + e);
                return this;
            }
            return file(path, content, mode);
        }

        /** Adds {@code /init}, the program the kernel runs first, with mode 0755. */
        public Builder init(String script) {
            return file("/init", script, 0755);
        }

        /** Adds a directory. */
        public Builder directory(String path, int mode) {
            String p = normalize(path);
            if (p != null && checkMode(p, mode)) {
                put(new InitramfsEntry.Directory(p, mode));
            }
            return this;
        }

        /** Adds a symbolic link at {@code path} pointing to {@code target}. */
        public Builder symlink(String path, String target) {
            String p = normalize(path);
            if (p == null) {
                return this;
            }
            byte[] t = target.getBytes(StandardCharsets.UTF_8);
            if (t.length == 0 || t.length >= 4096 || target.indexOf('\0') >= 0) {
                problems.add("symlink " + p + ": target must be 1 to 4095 bytes without NUL");
                return this;
            }
            put(new InitramfsEntry.Symlink(p, target));
            return this;
        }

        /** Adds a character device node, e.g. {@code charDevice("/dev/console", 0600, 5, 1)}. */
        public Builder charDevice(String path, int mode, int major, int minor) {
            return device(path, mode, InitramfsEntry.DeviceKind.CHARACTER, major, minor);
        }

        /** Adds a block device node. */
        public Builder blockDevice(String path, int mode, int major, int minor) {
            return device(path, mode, InitramfsEntry.DeviceKind.BLOCK, major, minor);
        }

        private Builder device(String path, int mode, InitramfsEntry.DeviceKind kind, int major, int minor) {
            String p = normalize(path);
            if (p == null || !checkMode(p, mode)) {
                return this;
            }
            // Linux device numbers: 12-bit major, 20-bit minor.
            if (major < 0 || major > 0xfff || minor < 0 || minor > 0xfffff) {
                problems.add("device " + p + ": major must be 0..4095 and minor 0..1048575, got " + major + ":" + minor);
                return this;
            }
            put(new InitramfsEntry.Device(p, mode, kind, major, minor));
            return this;
        }

        /** Adds an entry made elsewhere (validated like the others). */
        public Builder add(InitramfsEntry entry) {
            return switch (entry) {
                case InitramfsEntry.File f -> file(f.path(), f.contentUnsafe(), f.mode());
                case InitramfsEntry.Directory d -> directory(d.path(), d.mode());
                case InitramfsEntry.Symlink s -> symlink(s.path(), s.target());
                case InitramfsEntry.Device d -> device(d.path(), d.mode(), d.kind(), d.major(), d.minor());
            };
        }

        /** Adds every entry of {@code more}. */
        public Builder addAll(Collection<? extends InitramfsEntry> more) {
            more.forEach(this::add);
            return this;
        }

        /** Removes the entry at {@code path} and everything below it, if present. */
        public Builder remove(String path) {
            String p = normalize(path);
            if (p != null) {
                byPath.keySet().removeIf(k -> k.equals(p) || k.startsWith(p + "/"));
            }
            return this;
        }

        /** The initramfs, or every problem found at once. */
        public Initramfs build() {
            if (!problems.isEmpty()) {
                throw new InvalidInitramfsException(problems);
            }
            return new Initramfs(new ArrayList<>(byPath.values()));
        }

        private void put(InitramfsEntry entry) {
            String p = entry.path();
            // Parents must exist as directories before the kernel can unpack a child.
            int slash = p.indexOf('/', 1);
            while (slash > 0) {
                String parent = p.substring(0, slash);
                InitramfsEntry existing = byPath.get(parent);
                if (existing == null) {
                    byPath.put(parent, new InitramfsEntry.Directory(parent, 0755));
                } else if (!(existing instanceof InitramfsEntry.Directory)) {
                    problems.add(p + ": parent " + parent + " is not a directory");
                    return;
                }
                slash = p.indexOf('/', slash + 1);
            }
            String firstChild = byPath.ceilingKey(p + "/");
            if (!(entry instanceof InitramfsEntry.Directory) && firstChild != null && firstChild.startsWith(p + "/")) {
                problems.add(p + ": cannot replace a directory that has entries with a " + kindName(entry));
                return;
            }
            byPath.put(p, entry);
        }

        private boolean checkMode(String path, int mode) {
            if ((mode & ~07777) != 0) {
                problems.add(path + ": mode 0" + Integer.toOctalString(mode) + " has bits outside 07777");
                return false;
            }
            return true;
        }

        private @Nullable String normalize(String path) {
            String why = null;
            if (path.isEmpty() || path.equals("/")) {
                why = "the root itself cannot be an entry";
            } else if (path.indexOf('\0') >= 0) {
                why = "contains NUL";
            } else if (path.endsWith("/")) {
                why = "ends with '/'";
            } else {
                String p = path.startsWith("/") ? path.substring(1) : path;
                for (String part : p.split("/", -1)) {
                    if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                        why = "has an empty, '.' or '..' component";
                        break;
                    }
                }
                if (why == null && p.getBytes(StandardCharsets.UTF_8).length >= 4096) {
                    why = "is longer than 4095 bytes";
                }
                if (why == null) {
                    return "/" + p;
                }
            }
            problems.add("path \"" + path + "\" " + why);
            return null;
        }

        private static String kindName(InitramfsEntry e) {
            return switch (e) {
                case InitramfsEntry.File f -> "file";
                case InitramfsEntry.Directory d -> "directory";
                case InitramfsEntry.Symlink s -> "symlink";
                case InitramfsEntry.Device d -> "device";
            };
        }
    }
}
