package dev.ignition.internal.virtio;

import dev.ignition.memory.GuestMemory;
import java.security.SecureRandom;

/**
 * virtio-rng (entropy device, virtio 1.x section 5.4): one request queue whose device-writable
 * buffers are filled from the host's {@link SecureRandom}. At most {@link #MAX_PER_REQUEST}
 * bytes are served per request, however large the buffers, so a guest cannot make the host
 * generate gigabytes on one notification; the used length tells the driver how many it got.
 */
public final class VirtioRng implements VirtioDeviceModel {
    public static final int DEVICE_ID = 4;
    static final int MAX_PER_REQUEST = 64 * 1024;
    private final SecureRandom random;

    public VirtioRng() {
        this(new SecureRandom());
    }

    VirtioRng(SecureRandom random) {
        this.random = random;
    }

    @Override
    public int deviceId() {
        return DEVICE_ID;
    }

    @Override
    public String kind() {
        return "virtio-rng";
    }

    @Override
    public long features() {
        return 0;
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public byte[] config() {
        return new byte[0];
    }

    @Override
    public int handle(int queue, DescriptorChain chain, GuestMemory memory) {
        int n = (int) Math.min(chain.writableLength(), MAX_PER_REQUEST);
        byte[] bytes = new byte[n];
        random.nextBytes(bytes);
        chain.write(memory, 0, bytes);
        return n;
    }
}
