package dev.ignition.internal.arm64;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class EsrPsciTest {
    @Test
    void decodesADataAbortSyndrome() {
        // ldrsh w3, [x1] on MMIO: ISV, SAS=1 (2 bytes), SSE, SRT=3, SF=0, WnR=0, DFSC=translation L3
        long esr = 0x24L << 26 | 1L << 25 | 1L << 24 | 1L << 22 | 1L << 21 | 3L << 16 | 0x07;
        Esr.DataAbort d = Esr.DataAbort.decode(esr);
        assertThat(Esr.ec(esr)).isEqualTo(Esr.EC_DABT_LOW);
        assertThat(Esr.il(esr)).isTrue();
        assertThat(d).isEqualTo(new Esr.DataAbort(true, 2, true, 3, false, false, false, false, 0x07));
        assertThat(d.translationFault()).isTrue();
        assertThat(d.permissionFault()).isFalse();
        assertThat(d.loadValue(0xffff_8001L)).isEqualTo(0xffff_8001L);
        Esr.DataAbort perm = Esr.DataAbort.decode(0x24L << 26 | 1L << 7 | 1L << 6 | 0x0f);
        assertThat(perm.permissionFault()).isTrue();
        assertThat(perm.s1ptw()).isTrue();
        assertThat(perm.write()).isTrue();
        assertThat(perm.isv()).isFalse();
    }

    @Test
    void extendsLoadsPerSseAndSf() {
        for (int size : new int[] {1, 2, 4, 8}) {
            int bits = size * 8;
            long top = bits == 64 ? Long.MIN_VALUE : 1L << (bits - 1);
            long zext = new Esr.DataAbort(true, size, false, 0, true, false, false, false, 0).loadValue(top | 0xff00_0000_0000_0000L);
            assertThat(zext).isEqualTo(bits == 64 ? top | 0xff00_0000_0000_0000L : top);
            long sext64 = new Esr.DataAbort(true, size, true, 0, true, false, false, false, 0).loadValue(top);
            assertThat(sext64).isEqualTo(bits == 64 ? top : -top);
            if (size < 8) {
                long sext32 = new Esr.DataAbort(true, size, true, 0, false, false, false, false, 0).loadValue(top);
                assertThat(sext32).isEqualTo((-top) & 0xffff_ffffL);
            }
        }
        assertThat(new Esr.DataAbort(true, 2, false, 0, false, false, false, false, 0).storeValue(-1)).isEqualTo(0xffff);
    }

    @Test
    void decodesSysRegTrapsAndHvc() {
        // mrs x3, cntpct_el0: op0=3 op1=3 CRn=14 CRm=0 op2=1
        long esr = 0x18L << 26 | 3L << 20 | 1L << 17 | 3L << 14 | 14L << 10 | 3L << 5 | 0L << 1 | 1;
        Esr.SysRegTrap t = Esr.SysRegTrap.decode(esr);
        assertThat(t).isEqualTo(new Esr.SysRegTrap(true, 3, 3, 3, 14, 0, 1));
        assertThat(t.name()).isEqualTo("S3_3_C14_C0_1");
        assertThat(Esr.ec(0x5a000000L)).isEqualTo(Esr.EC_HVC64); // hvc #0 as seen from HVF
        assertThat(Esr.hvcImmediate(0x5a000000L | 0x1f0)).isEqualTo(0x1f0);
        assertThat(Esr.isWfe(0x04000001L)).isTrue();
    }

    @Test
    void psciCallsDecode() {
        assertThat(Psci.decode(Psci.VERSION, 0, 0, 0)).isEqualTo(new Psci.Call.Version());
        assertThat(Psci.decode(Psci.CPU_ON_64, 0x101, 0x4008_0000L, 9)).isEqualTo(new Psci.Call.CpuOn(0x101, 0x4008_0000L, 9));
        assertThat(Psci.decode(0xffff_ffff_8400_0003L, 0xffff_ffff_0000_0001L, 0x1_4000_0000L, 0))
                .as("SMC32 arguments use the low 32 bits").isEqualTo(new Psci.Call.CpuOn(1, 0x4000_0000L, 0));
        assertThat(Psci.decode(Psci.FEATURES, Psci.SYSTEM_RESET, 0, 0)).isEqualTo(new Psci.Call.Features(Psci.SYSTEM_RESET));
        assertThat(Psci.decode(Psci.CPU_SUSPEND_64, 0, 0, 0)).isEqualTo(new Psci.Call.Unsupported(Psci.CPU_SUSPEND_64));
        assertThat(Psci.features(Psci.CPU_OFF)).isZero();
        assertThat(Psci.features(0x8000_0000)).isEqualTo(Psci.NOT_SUPPORTED);
    }
}
