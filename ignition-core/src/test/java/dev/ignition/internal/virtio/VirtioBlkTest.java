package dev.ignition.internal.virtio;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.internal.virtio.VirtioDriver.Buf;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VirtioBlkTest {
    static final int SECTORS = 16;
    @TempDir Path dir;

    Path image() throws Exception {
        byte[] content = new byte[SECTORS * 512 + 100]; // a partial sector at the end is not part of the disk
        for (int i = 0; i < content.length; i++) {
            content[i] = (byte) (i * 31 + i / 512);
        }
        Path p = dir.resolve("disk.img");
        Files.write(p, content);
        return p;
    }

    static byte[] header(int type, long sector) {
        return ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(type).putInt(0).putLong(sector).array();
    }

    /** One request: header, then data buffers, then the status byte; returns the status. */
    static int request(VirtioDriver d, int type, long sector, Buf... data) {
        long h = d.alloc(16, header(type, sector));
        long st = d.alloc(1, (byte) 0x55);
        Buf[] chain = new Buf[data.length + 2];
        chain[0] = new Buf(h, 16, false);
        System.arraycopy(data, 0, chain, 1, data.length);
        chain[chain.length - 1] = new Buf(st, 1, true);
        int before = d.usedIdx(0);
        d.submit(0, chain);
        assertThat(d.usedIdx(0)).as("request completed").isEqualTo((before + 1) & 0xffff);
        return d.memory.readByte(st) & 0xff;
    }

    @Test
    void configReportsCapacityAndFeatures() throws Exception {
        try (VirtioDriver d = new VirtioDriver(new VirtioBlk(image(), false, "x"))) {
            assertThat(d.reg(VirtioMmio.DEVICE_ID)).isEqualTo(2);
            assertThat(d.device.read(0x100, 8)).isEqualTo(SECTORS);
            assertThat(d.device.read(0x100, 4)).isEqualTo(SECTORS);
            assertThat(d.device.read(0x10c, 4)).isEqualTo(VirtioBlk.SEG_MAX);
            long f = d.deviceFeatures();
            assertThat(f & VirtioBlk.F_FLUSH).isNotZero();
            assertThat(f & VirtioBlk.F_RO).isZero();
            assertThat(f & VirtioMmio.F_VERSION_1).isNotZero();
        }
        try (VirtioDriver d = new VirtioDriver(new VirtioBlk(image(), true, "x"))) {
            assertThat(d.deviceFeatures() & VirtioBlk.F_RO).isNotZero();
        }
    }

    @Test
    void readsWhatTheFileHoldsAcrossSeveralBuffers() throws Exception {
        Path img = image();
        byte[] file = Files.readAllBytes(img);
        try (VirtioDriver d = new VirtioDriver(new VirtioBlk(img, false, "x")).start(1, 16)) {
            long a = d.alloc(100);
            long b = d.alloc(924);
            long c = d.alloc(512);
            assertThat(request(d, VirtioBlk.T_IN, 3, new Buf(a, 100, true), new Buf(b, 924, true), new Buf(c, 512, true)))
                    .isEqualTo(VirtioBlk.S_OK);
            byte[] got = new byte[1536];
            System.arraycopy(d.memory.read(a, 100), 0, got, 0, 100);
            System.arraycopy(d.memory.read(b, 924), 0, got, 100, 924);
            System.arraycopy(d.memory.read(c, 512), 0, got, 1024, 512);
            assertThat(got).isEqualTo(Arrays.copyOfRange(file, 3 * 512, 6 * 512));
            assertThat(d.usedElem(0, 0)[1]).as("data plus status").isEqualTo(1537);
        }
    }

    @Test
    void writeThenFlushReachesTheFileAndReadsBack() throws Exception {
        Path img = image();
        byte[] before = Files.readAllBytes(img);
        byte[] data = new byte[1024];
        Arrays.fill(data, 0, 512, (byte) 0xab);
        Arrays.fill(data, 512, 1024, (byte) 0xcd);
        try (VirtioDriver d = new VirtioDriver(new VirtioBlk(img, false, "x")).start(1, 16)) {
            long src = d.alloc(1024, data);
            assertThat(request(d, VirtioBlk.T_OUT, SECTORS - 2, new Buf(src, 1024, false))).isEqualTo(VirtioBlk.S_OK);
            assertThat(request(d, VirtioBlk.T_FLUSH, 0)).isEqualTo(VirtioBlk.S_OK);
            long dst = d.alloc(1024);
            assertThat(request(d, VirtioBlk.T_IN, SECTORS - 2, new Buf(dst, 1024, true))).isEqualTo(VirtioBlk.S_OK);
            assertThat(d.memory.read(dst, 1024)).isEqualTo(data);
        }
        byte[] after = Files.readAllBytes(img);
        byte[] expected = before.clone();
        System.arraycopy(data, 0, expected, (SECTORS - 2) * 512, 1024);
        assertThat(after).isEqualTo(expected);
    }

    @Test
    void outOfRangeAndMalformedRequestsFailWithIoErrorAndTouchNothing() throws Exception {
        Path img = image();
        byte[] before = Files.readAllBytes(img);
        try (VirtioDriver d = new VirtioDriver(new VirtioBlk(img, false, "x")).start(1, 16)) {
            long buf = d.alloc(1024, new byte[1024]);
            d.memory.write(buf, filled(1024, (byte) 0x77));
            assertThat(request(d, VirtioBlk.T_OUT, SECTORS - 1, new Buf(buf, 1024, false)))
                    .as("one sector past the end").isEqualTo(VirtioBlk.S_IOERR);
            assertThat(request(d, VirtioBlk.T_OUT, SECTORS, new Buf(buf, 512, false))).isEqualTo(VirtioBlk.S_IOERR);
            assertThat(request(d, VirtioBlk.T_OUT, -1L, new Buf(buf, 512, false)))
                    .as("sector 2^64-1").isEqualTo(VirtioBlk.S_IOERR);
            assertThat(request(d, VirtioBlk.T_OUT, Long.MAX_VALUE / 256, new Buf(buf, 1024, false)))
                    .as("sector * 512 overflows").isEqualTo(VirtioBlk.S_IOERR);
            assertThat(request(d, VirtioBlk.T_OUT, 0, new Buf(buf, 100, false)))
                    .as("not whole sectors").isEqualTo(VirtioBlk.S_IOERR);
            assertThat(request(d, VirtioBlk.T_IN, SECTORS - 1, new Buf(buf, 1024, true))).isEqualTo(VirtioBlk.S_IOERR);
            assertThat(d.memory.read(buf, 1024)).as("a failed read writes nothing").containsOnly((byte) 0x77);
            assertThat(request(d, 77, 0)).isEqualTo(VirtioBlk.S_UNSUPP);
            assertThat(d.needsReset()).isFalse();
        }
        assertThat(Files.readAllBytes(img)).isEqualTo(before);
    }

    @Test
    void readOnlyDiskRefusesWritesButReadsAndFlushes() throws Exception {
        Path img = image();
        byte[] before = Files.readAllBytes(img);
        try (VirtioDriver d = new VirtioDriver(new VirtioBlk(img, true, "x")).start(1, 16)) {
            long buf = d.alloc(512, filled(512, (byte) 1));
            assertThat(request(d, VirtioBlk.T_OUT, 0, new Buf(buf, 512, false))).isEqualTo(VirtioBlk.S_IOERR);
            assertThat(request(d, VirtioBlk.T_FLUSH, 0)).isEqualTo(VirtioBlk.S_OK);
            assertThat(request(d, VirtioBlk.T_IN, 0, new Buf(buf, 512, true))).isEqualTo(VirtioBlk.S_OK);
            assertThat(d.memory.read(buf, 512)).isEqualTo(Arrays.copyOf(before, 512));
        }
        assertThat(Files.readAllBytes(img)).isEqualTo(before);
    }

    @Test
    void getIdReturnsTheSerialZeroPadded() throws Exception {
        try (VirtioDriver d = new VirtioDriver(new VirtioBlk(image(), false, "disk-7")).start(1, 16)) {
            long buf = d.alloc(20, filled(20, (byte) 0xee));
            assertThat(request(d, VirtioBlk.T_GET_ID, 0, new Buf(buf, 20, true))).isEqualTo(VirtioBlk.S_OK);
            byte[] expected = Arrays.copyOf("disk-7".getBytes(), 20);
            assertThat(d.memory.read(buf, 20)).isEqualTo(expected);
        }
    }

    @Test
    void aRequestWithoutStatusByteOrHeaderNeedsReset() throws Exception {
        try (VirtioDriver d = new VirtioDriver(new VirtioBlk(image(), false, "x")).start(1, 16)) {
            long h = d.alloc(16, header(VirtioBlk.T_IN, 0));
            d.submit(0, new Buf(h, 16, false));
            assertThat(d.needsReset()).isTrue();
            assertThat(d.device.failure()).contains("no writable status byte");
        }
        try (VirtioDriver d = new VirtioDriver(new VirtioBlk(image(), false, "x")).start(1, 16)) {
            long h = d.alloc(8);
            long st = d.alloc(1);
            d.submit(0, new Buf(h, 8, false), new Buf(st, 1, true));
            assertThat(d.needsReset()).isTrue();
        }
    }

    @Test
    void closeReleasesTheFile() throws Exception {
        VirtioBlk blk = new VirtioBlk(image(), false, "x");
        blk.close();
        assertThat(blk.isOpen()).isFalse();
    }

    static byte[] filled(int n, byte v) {
        byte[] b = new byte[n];
        Arrays.fill(b, v);
        return b;
    }
}
