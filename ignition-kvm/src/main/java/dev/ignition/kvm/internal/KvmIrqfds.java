package dev.ignition.kvm.internal;

import dev.ignition.device.InterruptLine;
import dev.ignition.internal.posix.Errno;
import dev.ignition.internal.posix.EventFd;
import dev.ignition.internal.posix.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The irqfds of one VM: per GSI an eventfd registered with {@code KVM_IRQFD}, so that raising an
 * interrupt is one {@code write(2)} from any thread instead of a {@code KVM_IRQ_LINE} ioctl. KVM
 * injects each signal as an edge (the pin asserted, then deasserted), which is what the
 * edge-triggered IOAPIC pins of the virtio devices need.
 *
 * <p>When the kernel lacks {@code KVM_CAP_IRQFD}, or registering fails, {@link #line} is empty and
 * the caller keeps {@code KVM_IRQ_LINE}. {@link #close} deassigns every irqfd
 * ({@code KVM_IRQFD_FLAG_DEASSIGN}) and closes its eventfd.
 */
final class KvmIrqfds implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(KvmIrqfds.class);

    private final int vmFd;
    private final boolean supported;
    private final Map<Integer, Line> lines = new HashMap<>();
    private boolean closed;

    /**
     * @param vmFd the VM's descriptor
     * @param supported what the capability probe ({@code KVM_CHECK_EXTENSION(KVM_CAP_IRQFD)}) and
     *     {@link EventFd#supported()} said
     */
    KvmIrqfds(int vmFd, boolean supported) {
        this.vmFd = vmFd;
        this.supported = supported;
    }

    /** Probes {@code KVM_CAP_IRQFD} on the VM descriptor (and that eventfd(2) exists). */
    static boolean probe(int vmFd) {
        return EventFd.supported() && Libc.ioctlRaw(vmFd, KvmIoctl.CHECK_EXTENSION.request, KvmIoctl.CAP_IRQFD) > 0;
    }

    boolean supported() {
        return supported;
    }

    /** The irqfd line for {@code gsi}, registered on first use; empty if irqfds are unavailable. */
    synchronized Optional<InterruptLine> line(int gsi) {
        if (!supported || closed) {
            return Optional.empty();
        }
        Line l = lines.get(gsi);
        if (l == null) {
            EventFd efd = EventFd.open();
            int rc = assign(efd.fd(), gsi, 0);
            if (rc < 0) {
                efd.close();
                LOG.warn("KVM_IRQFD for GSI {} failed ({}); that line uses KVM_IRQ_LINE", gsi,
                        Errno.name(-rc));
                return Optional.empty();
            }
            l = new Line(efd, gsi);
            lines.put(gsi, l);
        }
        return Optional.of(l);
    }

    private int assign(int fd, int gsi, int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(KvmStructs.KVM_IRQFD);
            KvmStructs.IRQFD_FD.set(s, 0L, fd);
            KvmStructs.IRQFD_GSI.set(s, 0L, gsi);
            KvmStructs.IRQFD_FLAGS.set(s, 0L, flags);
            return Libc.ioctlRaw(vmFd, KvmIoctl.IRQFD.request, s);
        }
    }

    /** Deassigns every irqfd and closes its eventfd; later lines are empty. Idempotent. */
    @Override
    public void close() {
        List<Line> all;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            all = new ArrayList<>(lines.values());
            lines.clear();
        }
        RuntimeException failure = null;
        for (Line l : all) {
            try {
                l.close();
            } catch (RuntimeException e) {
                failure = failure == null ? e : failure;
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** One GSI's irqfd. {@code set(true)} is one eventfd write; {@code set(false)} does nothing. */
    private final class Line implements InterruptLine {
        private final EventFd efd;
        private final int gsi;
        private @Nullable EventFd open;

        Line(EventFd efd, int gsi) {
            this.efd = efd;
            this.gsi = gsi;
            this.open = efd;
        }

        @Override
        public void set(boolean high) {
            if (!high) {
                return; // KVM deasserted the pin right after asserting it
            }
            synchronized (this) { // against close(): the descriptor number could be reused
                if (open != null) {
                    open.signal();
                }
            }
        }

        synchronized void close() {
            if (open == null) {
                return;
            }
            open = null;
            try {
                int rc = assign(efd.fd(), gsi, KvmIoctl.IRQFD_FLAG_DEASSIGN);
                if (rc < 0) {
                    LOG.debug("KVM_IRQFD deassign for GSI {} failed ({})", gsi,
                            Errno.name(-rc));
                }
            } finally {
                efd.close();
            }
        }

        @Override
        public String toString() {
            return "irqfd(GSI " + gsi + ", eventfd " + efd.fd() + ")";
        }
    }
}
