package dev.ignition.initramfs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;

class InitramfsTest {
    @Test
    void fileRecordMatchesTheNewcLayoutByteForByte() {
        byte[] cpio = Initramfs.builder().file("/a", "hi", 0644).build().toByteArray();
        String header = new String(cpio, 0, 110, StandardCharsets.US_ASCII);
        assertThat(header).isEqualTo("070701"
                + "00000001" // ino
                + "000081a4" // S_IFREG | 0644
                + "00000000" + "00000000" // uid, gid
                + "00000001" // nlink
                + "00000000" // mtime
                + "00000002" // filesize
                + "00000000" + "00000000" // devmajor, devminor
                + "00000000" + "00000000" // rdevmajor, rdevminor
                + "00000002" // namesize: "a" + NUL
                + "00000000"); // check
        // name "a\0" at 110..111, header+name = 112 is 4-aligned, data "hi" then 2 bytes of padding
        assertThat(cpio[110]).isEqualTo((byte) 'a');
        assertThat(cpio[111]).isZero();
        assertThat(new String(cpio, 112, 2, StandardCharsets.US_ASCII)).isEqualTo("hi");
        assertThat(cpio[114]).isZero();
        assertThat(cpio[115]).isZero();
        String trailer = new String(cpio, 116, 110, StandardCharsets.US_ASCII);
        assertThat(trailer).isEqualTo("070701" + "00000000" + "00000000" + "00000000" + "00000000" + "00000001"
                + "00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "0000000b"
                + "00000000");
        assertThat(new String(cpio, 226, 10, StandardCharsets.US_ASCII)).isEqualTo("TRAILER!!!");
        // 226 + 11 = 237, padded to 240: the archive ends there.
        assertThat(cpio).hasSize(240);
    }

    @Test
    void writesParentsFirstAndKindsWithTheirTypeBits() {
        Initramfs fs = Initramfs.builder()
                .symlink("/bin/sh", "busybox")
                .file("/bin/busybox", new byte[] {1, 2, 3}, 0755)
                .charDevice("/dev/console", 0600, 5, 1)
                .blockDevice("/dev/vda", 0660, 254, 0)
                .directory("/tmp", 01777)
                .init("#!/bin/sh\n")
                .build();
        List<CpioNewcReader.Record> records = CpioNewcReader.read(fs.toByteArray());
        assertThat(records).extracting(CpioNewcReader.Record::name)
                .containsExactly("bin", "bin/busybox", "bin/sh", "dev", "dev/console", "dev/vda", "init", "tmp");
        assertThat(records).extracting(r -> Integer.toOctalString(r.mode()))
                .containsExactly("40755", "100755", "120777", "40755", "20600", "60660", "100755", "41777");
        CpioNewcReader.Record console = records.get(4);
        assertThat(console.rdevMajor()).isEqualTo(5);
        assertThat(console.rdevMinor()).isEqualTo(1);
        assertThat(records.get(2).data()).isEqualTo("busybox".getBytes(StandardCharsets.UTF_8));
        assertThat(records).extracting(CpioNewcReader.Record::ino).containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L);
        assertThat(records.get(0).nlink()).isEqualTo(2);
    }

    @Test
    void explicitDirectoryReplacesAnImplicitOne() {
        Initramfs fs = Initramfs.builder().file("/etc/x", "", 0600).directory("/etc", 0700).build();
        assertThat(fs.entries()).containsExactly(new InitramfsEntry.Directory("/etc", 0700),
                new InitramfsEntry.File("/etc/x", 0600, new byte[0]));
    }

    @Test
    void reportsEveryProblemAtOnce() {
        Initramfs.Builder b = Initramfs.builder()
                .file("/", "x", 0644)
                .file("/a/../b", "x", 0644)
                .file("/c", "x", 010644)
                .file("/d/", "x", 0644)
                .symlink("/e", "")
                .charDevice("/f", 0600, 4096, 0)
                .file("/g", "x", 0644)
                .file("/g/h", "x", 0644);
        assertThatThrownBy(b::build).isInstanceOf(InvalidInitramfsException.class)
                .satisfies(e -> assertThat(((InvalidInitramfsException) e).problems()).hasSize(7))
                .hasMessageContaining("root itself")
                .hasMessageContaining("'..'")
                .hasMessageContaining("outside 07777")
                .hasMessageContaining("ends with '/'")
                .hasMessageContaining("symlink /e")
                .hasMessageContaining("major must be")
                .hasMessageContaining("parent /g is not a directory");
    }

    @Test
    void aFileCannotReplaceANonEmptyDirectory() {
        Initramfs.Builder b = Initramfs.builder().file("/d/x", "x", 0644).file("/d", "y", 0644);
        assertThatThrownBy(b::build).hasMessageContaining("/d: cannot replace a directory that has entries");
    }

    @Test
    void toBuilderKeepsEntriesAndRemoveDropsASubtree() {
        Initramfs base = Initramfs.builder().file("/a/b", "1", 0644).file("/c", "2", 0644).build();
        Initramfs changed = base.toBuilder().remove("/a").file("/c", "3", 0600).build();
        assertThat(changed.entries()).containsExactly(new InitramfsEntry.File("/c", 0600, "3".getBytes(StandardCharsets.UTF_8)));
        assertThat(base.entries()).hasSize(3);
    }

    @Test
    void gzipVariantDecompressesToTheSameArchive() throws Exception {
        Initramfs fs = Initramfs.builder().file("/x", "data", 0644).build();
        byte[] gz = fs.toGzipByteArray();
        try (var in = new GZIPInputStream(new ByteArrayInputStream(gz))) {
            assertThat(in.readAllBytes()).isEqualTo(fs.toByteArray());
        }
    }
}
