package dev.ignition.initramfs;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A strict newc reader for tests: every header field, name, padding and the trailer are checked. */
final class CpioNewcReader {
    record Record(long ino, int mode, int uid, int gid, int nlink, long mtime, int devMajor, int devMinor,
            int rdevMajor, int rdevMinor, String name, byte[] data) {}

    private CpioNewcReader() {}

    static List<Record> read(byte[] archive) {
        List<Record> out = new ArrayList<>();
        int pos = 0;
        while (true) {
            if (pos + 110 > archive.length) {
                throw new IllegalArgumentException("truncated header at " + pos);
            }
            String magic = new String(archive, pos, 6, StandardCharsets.US_ASCII);
            if (!magic.equals("070701")) {
                throw new IllegalArgumentException("bad magic at " + pos + ": " + magic);
            }
            long[] f = new long[13];
            for (int i = 0; i < 13; i++) {
                String hex = new String(archive, pos + 6 + 8 * i, 8, StandardCharsets.US_ASCII);
                if (!hex.matches("[0-9a-f]{8}")) {
                    throw new IllegalArgumentException("bad field " + i + " at " + pos + ": " + hex);
                }
                f[i] = Long.parseLong(hex, 16);
            }
            int namesize = (int) f[11];
            int nameStart = pos + 110;
            if (namesize < 1 || archive[nameStart + namesize - 1] != 0) {
                throw new IllegalArgumentException("name not NUL-terminated at " + pos);
            }
            String name = new String(archive, nameStart, namesize - 1, StandardCharsets.UTF_8);
            int dataStart = align4(nameStart + namesize);
            checkZero(archive, nameStart + namesize, dataStart);
            int size = (int) f[6];
            byte[] data = Arrays.copyOfRange(archive, dataStart, dataStart + size);
            int next = align4(dataStart + size);
            checkZero(archive, dataStart + size, next);
            if (f[12] != 0) {
                throw new IllegalArgumentException("check field must be 0 for newc");
            }
            if (name.equals("TRAILER!!!")) {
                if (next != archive.length) {
                    throw new IllegalArgumentException("bytes after trailer: " + (archive.length - next));
                }
                return out;
            }
            out.add(new Record(f[0], (int) f[1], (int) f[2], (int) f[3], (int) f[4], f[5], (int) f[7], (int) f[8],
                    (int) f[9], (int) f[10], name, data));
            pos = next;
        }
    }

    private static int align4(int x) {
        return (x + 3) & ~3;
    }

    private static void checkZero(byte[] a, int from, int to) {
        for (int i = from; i < to; i++) {
            if (a[i] != 0) {
                throw new IllegalArgumentException("non-zero padding at " + i);
            }
        }
    }
}
