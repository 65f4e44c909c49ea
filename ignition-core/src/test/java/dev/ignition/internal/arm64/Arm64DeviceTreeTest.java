package dev.ignition.internal.arm64;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

class Arm64DeviceTreeTest {
    static byte[] sample() {
        return Arm64DeviceTree.build(new Arm64DeviceTree.Spec(Arm64Layout.RAM_BASE, 512L << 20, 2,
                Arm64DeviceTree.Gic.standard(2, 11), List.of(0, 3),
                "console=ttyAMA0 earlycon=pl011,mmio32,0x9000000 rdinit=/init",
                new Arm64DeviceTree.Initrd(0x5f00_0000L, 0x5f12_3456L)));
    }

    @Test
    void decompilesCleanlyWithEverythingTheKernelNeeds() throws Exception {
        Dtc.Result r = Dtc.decompile(sample());
        assertThat(r.warnings()).isEmpty();
        String dts = r.dts();
        assertThat(dts).contains("compatible = \"linux,dummy-virt\";")
                .contains("#address-cells = <0x02>;")
                .contains("interrupt-parent = <0x01>;")
                // memory
                .contains("memory@40000000 {")
                .contains("device_type = \"memory\";")
                .contains("reg = <0x00 0x40000000 0x00 0x20000000>;")
                // CPUs through PSCI over HVC
                .contains("cpu@0 {").contains("cpu@1 {")
                .contains("enable-method = \"psci\";")
                .contains("compatible = \"arm,psci-1.0\\0arm,psci-0.2\";")
                .contains("method = \"hvc\";")
                // GICv3: distributor 64 KiB, two redistributors of 128 KiB
                .contains("intc@8000000 {")
                .contains("compatible = \"arm,gic-v3\";")
                .contains("interrupt-controller;")
                .contains("#interrupt-cells = <0x03>;")
                .contains("reg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0x40000>;")
                // timer: secure, non-secure physical, virtual (PPI 11 = INTID 27), hypervisor
                .contains("compatible = \"arm,armv8-timer\";")
                .contains("interrupts = <0x01 0x0d 0x04 0x01 0x0e 0x04 0x01 0x0b 0x04 0x01 0x0a 0x04>;")
                // UART
                .contains("pl011@9000000 {")
                .contains("compatible = \"arm,pl011\\0arm,primecell\";")
                .contains("interrupts = <0x00 0x01 0x04>;")
                .contains("clock-names = \"uartclk\\0apb_pclk\";")
                // virtio-mmio slots 0 and 3
                .contains("virtio_mmio@a000000 {").contains("virtio_mmio@a000600 {")
                .contains("reg = <0x00 0xa000600 0x00 0x200>;")
                .contains("interrupts = <0x00 0x13 0x04>;")
                .contains("compatible = \"virtio,mmio\";")
                // chosen
                .contains("bootargs = \"console=ttyAMA0 earlycon=pl011,mmio32,0x9000000 rdinit=/init\";")
                .contains("stdout-path = \"/pl011@9000000\";")
                .contains("linux,initrd-start = <0x00 0x5f000000>;")
                .contains("linux,initrd-end = <0x00 0x5f123456>;");
    }

    @Test
    void withoutInitrdThereAreNoInitrdProperties() throws Exception {
        byte[] dtb = Arm64DeviceTree.build(new Arm64DeviceTree.Spec(Arm64Layout.RAM_BASE, 64L << 20, 1,
                Arm64DeviceTree.Gic.standard(1, 11), List.of(), "console=ttyAMA0", null));
        String dts = Dtc.decompile(dtb).dts();
        assertThat(dts).doesNotContain("initrd").doesNotContain("virtio");
        assertThat(dts).contains("cpu@0").doesNotContain("cpu@1");
    }

    @Test
    void mpidrsBeyondSixteenGoToTheNextCluster() throws Exception {
        assertThat(Arm64Layout.mpidr(15)).isEqualTo(15);
        assertThat(Arm64Layout.mpidr(16)).isEqualTo(0x100);
        byte[] dtb = Arm64DeviceTree.build(new Arm64DeviceTree.Spec(Arm64Layout.RAM_BASE, 64L << 20, 17,
                Arm64DeviceTree.Gic.standard(17, 11), List.of(), "", null));
        assertThat(Dtc.decompile(dtb).dts()).contains("cpu@100 {").contains("reg = <0x100>;");
    }

    @Test
    void invalidSpecsAreRejected() {
        assertThatThrownBy(() -> new Arm64DeviceTree.Spec(Arm64Layout.RAM_BASE, 1 << 20, 2,
                Arm64DeviceTree.Gic.standard(1, 11), List.of(), "", null)).hasMessageContaining("too small");
        assertThatThrownBy(() -> new Arm64DeviceTree.Spec(Arm64Layout.RAM_BASE, 1 << 20, 1,
                Arm64DeviceTree.Gic.standard(1, 11), List.of(32), "", null)).hasMessageContaining("slot 32");
        assertThatThrownBy(() -> new Arm64DeviceTree.Gic(0x800_0000, 0x10_0000, 0x808_0000, 0x2_0000, 11, 14))
                .hasMessageContaining("overlap");
        assertThatThrownBy(() -> Arm64DeviceTree.Gic.standard(1, 16)).hasMessageContaining("PPI");
    }

    @Test
    void fdtWriterRejectsMisuse() {
        assertThatThrownBy(() -> new Fdt().property("x")).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> new Fdt().beginNode("").finish()).hasMessageContaining("unbalanced");
        assertThatThrownBy(() -> new Fdt().endNode()).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> new Fdt().beginNode("a/b")).isInstanceOf(IllegalArgumentException.class);
        Fdt f = new Fdt().beginNode("").endNode();
        assertThatThrownBy(() -> f.beginNode("second")).hasMessageContaining("one root");
    }

    @Test
    void fdtHeaderAndReservationsAreWellFormed() throws Exception {
        byte[] dtb = new Fdt().reserve(0x4000_0000L, 0x1000).beginNode("").propertyU32("a", 1).endNode().finish();
        ByteBuffer b = ByteBuffer.wrap(dtb);
        assertThat(b.getInt(0)).isEqualTo(0xd00dfeed);
        assertThat(b.getInt(4)).isEqualTo(dtb.length);
        assertThat(b.getInt(20)).isEqualTo(17);
        assertThat(b.getInt(24)).isEqualTo(16);
        assertThat(Dtc.decompile(dtb).dts()).contains("/memreserve/\t0x0000000040000000 0x0000000000001000;");
    }
}
