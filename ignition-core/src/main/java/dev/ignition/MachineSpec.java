package dev.ignition;

import dev.ignition.device.Device;
import dev.ignition.device.Disk;
import dev.ignition.guest.Guest;
import java.io.OutputStream;
import java.util.List;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * What {@link VirtualMachine.Builder#build()} asks for, resolved: when restoring, the image's
 * memory size, vCPU count, backend and disks stand in for the builder's. Taken once, so the
 * builder is never written back to.
 *
 * @param disks the disks to attach, in slot order (the image's when it brings its own)
 * @param backend the backend to use, or null for the first available
 * @param image the image to restore, or null to boot {@code guest}
 */
record MachineSpec(long memoryBytes, int vcpus, @Nullable Guest guest, List<OutputStream> consoleOutputs,
        List<Consumer<byte[]>> consoleListeners, List<Device> devices, List<Disk> disks, boolean virtioRng,
        @Nullable Long vsockCid, @Nullable Network network, @Nullable String backend, boolean trackDirtyPages,
        @Nullable VmImage image) {
    MachineSpec {
        consoleOutputs = List.copyOf(consoleOutputs);
        consoleListeners = List.copyOf(consoleListeners);
        devices = List.copyOf(devices);
        disks = List.copyOf(disks);
    }
}
