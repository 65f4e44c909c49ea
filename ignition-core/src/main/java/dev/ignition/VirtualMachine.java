package dev.ignition;

import dev.ignition.device.Device;
import dev.ignition.device.Disk;
import dev.ignition.device.Vsock;
import dev.ignition.guest.FreestandingGuest;
import dev.ignition.guest.Guest;
import dev.ignition.memory.GuestMemory;
import java.io.OutputStream;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * A micro-VM: guest memory, vCPUs on their own threads, devices and a serial console.
 *
 * <pre>{@code
 * try (VirtualMachine vm = VirtualMachine.builder()
 *         .memoryMiB(64)
 *         .guest(TestGuests.hello())
 *         .consoleOutput(System.out)
 *         .build()) {
 *     vm.start();
 *     VmExit exit = vm.awaitExit(Duration.ofSeconds(10)).orElseThrow();
 * }
 * }</pre>
 *
 * <p>Thread safety: every method may be called from any thread. {@link #close()} is idempotent
 * and releases every file descriptor, mapping and thread the VM owns.
 */
public interface VirtualMachine extends AutoCloseable {

    /** A new builder with defaults: 1 vCPU, no guest (one must be set), the first available backend. */
    static Builder builder() {
        return new Builder();
    }

    /** Starts the vCPUs. Does nothing if already started. */
    void start();

    /** Stops the vCPUs at their next instruction boundary and waits until they are parked. */
    void pause();

    /** Lets paused vCPUs continue. */
    void resume();

    VmState state();

    /** Waits up to {@code timeout} for the VM to exit; empty if it is still running. */
    Optional<VmExit> awaitExit(Duration timeout);

    /** The exit, once the VM has exited. */
    Optional<VmExit> exit();

    /** The serial console (16550 UART on COM1). */
    Console console();

    /** Guest RAM, for inspection and host-side writes. */
    GuestMemory memory();

    /** Time from {@link #start()} to the guest's write to the boot-timer device, once it happened. */
    Optional<Duration> bootTime();

    /** The host end of the VM's virtio-vsock device, if it has one ({@link Builder#vsock(long)}). */
    Optional<Vsock> vsock();

    /**
     * The VM's network device, if it has one ({@link Builder#network(Network)}): its MAC address
     * and the TCP forwards with the host ports actually bound.
     */
    Optional<NetworkAttachment> network();

    /** The name of the backend running this VM, e.g. {@code kvm}. */
    String backend();

    /** Stops the guest if it runs and releases every resource. Idempotent. */
    @Override
    void close();

    /**
     * Collects a VM's configuration; {@link #build()} validates it and reports every problem at
     * once.
     */
    final class Builder {
        /** Largest supported memory: limited by the 4-level identity map the loaders build. */
        public static final long MAX_MEMORY_BYTES = 512L << 30;
        /** Largest supported vCPU count (the MP table and APIC ids are 8-bit). */
        public static final int MAX_VCPUS = 254;

        long memoryBytes = 128L << 20;
        int vcpus = 1;
        @Nullable Guest guest;
        final List<OutputStream> consoleOutputs = new ArrayList<>();
        final List<Consumer<byte[]>> consoleListeners = new ArrayList<>();
        final List<Device> devices = new ArrayList<>();
        final List<Disk> disks = new ArrayList<>();
        boolean virtioRng;
        @Nullable Long vsockCid;
        @Nullable Network network;
        @Nullable String backend;
        boolean trackDirtyPages;
        @Nullable VmImage image;
        boolean memorySet;
        boolean vcpusSet;

        Builder() {}

        /** Guest RAM in bytes (default 128 MiB); a multiple of 2 MiB. */
        public Builder memoryBytes(long bytes) {
            this.memoryBytes = bytes;
            this.memorySet = true;
            return this;
        }

        /** Guest RAM in MiB (default 128); a multiple of 2. */
        public Builder memoryMiB(long mib) {
            return memoryBytes(mib << 20);
        }

        /** Number of vCPUs (default 1). */
        public Builder vcpus(int count) {
            this.vcpus = count;
            this.vcpusSet = true;
            return this;
        }

        /**
         * Resumes a captured VM instead of booting a guest: memory size and vCPU count come from
         * the image (if also set here they must match). Devices must be the same as when it was
         * captured.
         */
        public Builder restoreFrom(VmImage image) {
            this.image = Objects.requireNonNull(image, "image");
            return this;
        }

        /** What to run. Required unless restoring from an image. */
        public Builder guest(Guest guest) {
            this.guest = guest;
            return this;
        }

        /** Copies everything the guest prints on its console to {@code out} (may be called often). */
        public Builder consoleOutput(OutputStream out) {
            consoleOutputs.add(Objects.requireNonNull(out, "out"));
            return this;
        }

        /** Hands every chunk of console output to {@code listener}, on the vCPU thread. */
        public Builder onConsoleOutput(Consumer<byte[]> listener) {
            consoleListeners.add(Objects.requireNonNull(listener, "listener"));
            return this;
        }

        /** Adds a device model; see {@link dev.ignition.device}. */
        public Builder device(Device device) {
            devices.add(Objects.requireNonNull(device, "device"));
            return this;
        }

        /**
         * Attaches a disk image as a virtio-blk device (virtio-mmio). Linux guests find it
         * through the {@code virtio_mmio.device=} parameter the VM adds to their command line;
         * the first disk is {@code /dev/vda}. When restoring an image that brings its own disks
         * ({@link VmImage#disks()}, as snapshots of VMs with disks do), add none here.
         */
        public Builder disk(Disk disk) {
            disks.add(Objects.requireNonNull(disk, "disk"));
            return this;
        }

        /**
         * Attaches a virtio-rng device: the guest's {@code /dev/hwrng} reads bytes from the host's
         * {@link SecureRandom}.
         */
        public Builder virtioRng() {
            this.virtioRng = true;
            return this;
        }

        /**
         * Attaches a virtio-vsock device with guest context id {@code guestCid} (3 or more); the
         * host end is {@link VirtualMachine#vsock()}.
         */
        public Builder vsock(long guestCid) {
            this.vsockCid = guestCid;
            return this;
        }

        /**
         * Attaches a virtio-net device connected to {@code network}, e.g.
         * {@code Network.userMode().forwardTcp(0, 80)}; the forwarded host ports are read back
         * with {@link VirtualMachine#network()}. A restored VM gets a network of its own (its own
         * passt process and forwarded ports): pass it again when restoring.
         */
        public Builder network(Network network) {
            this.network = Objects.requireNonNull(network, "network");
            return this;
        }

        /** Uses the backend named {@code name} ({@code kvm}, {@code hvf}) instead of the first available. */
        public Builder backend(String name) {
            this.backend = name;
            return this;
        }

        /** Logs which pages the guest writes, so diff snapshots can be taken (default off). */
        public Builder trackDirtyPages(boolean track) {
            this.trackDirtyPages = track;
            return this;
        }

        /** The disks to attach: the image's when it brings any, else those added here. */
        List<Disk> effectiveDisks() {
            return image != null && !image.disks().isEmpty() ? image.disks() : disks;
        }

        /**
         * Validates the configuration, picks a backend and creates the VM (memory mapped, vCPUs
         * not yet running).
         *
         * @throws InvalidVmSpecException listing every problem found
         * @throws BackendUnavailableException saying why no backend can run it here
         */
        public VirtualMachine build() {
            MachineSpec spec = MachineAssembly.resolve(this);
            List<String> problems = new ArrayList<>();
            long memory = spec.memoryBytes();
            if (memory <= 0) {
                problems.add("memory must be positive, was " + memory + " bytes");
            } else if (memory % (2L << 20) != 0) {
                problems.add("memory must be a multiple of 2 MiB, was " + memory + " bytes");
            } else if (memory > MAX_MEMORY_BYTES) {
                problems.add("memory must be at most " + (MAX_MEMORY_BYTES >> 30) + " GiB, was "
                        + (memory >> 20) + " MiB");
            }
            if (spec.vcpus() < 1 || spec.vcpus() > MAX_VCPUS) {
                problems.add("vCPU count must be between 1 and " + MAX_VCPUS + ", was " + spec.vcpus());
            }
            if (image != null) {
                if (guest != null) {
                    problems.add("both a guest and an image to restore were given: choose one");
                }
            } else if (guest == null) {
                problems.add("no guest: call guest(...) with what the VM should run");
            } else if (guest instanceof FreestandingGuest g && memory > 0 && memory < g.requiredMemory()) {
                problems.add("guest '" + g.name() + "' needs at least " + (g.requiredMemory() >> 10)
                        + " KiB of memory, the VM has " + (memory >> 10) + " KiB");
            }
            if (image != null && !image.disks().isEmpty() && !disks.isEmpty()) {
                problems.add("the image to restore brings its own " + image.disks().size() + " disk(s) (the snapshot"
                        + " holds them); do not add disks when restoring it");
            }
            MachineAssembly.validate(spec, problems);
            if (!problems.isEmpty()) {
                throw new InvalidVmSpecException(problems);
            }
            return MachineAssembly.create(spec);
        }
    }
}
