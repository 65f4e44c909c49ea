package dev.ignition;

import java.io.Serial;
import java.util.List;

/** No hypervisor backend can run a VM here; the message says why for every backend tried. */
public final class BackendUnavailableException extends IgnitionException {
    @Serial private static final long serialVersionUID = 1L;
    private final List<Availability> tried;

    public BackendUnavailableException(List<Availability> tried) {
        super(describe(tried));
        this.tried = List.copyOf(tried);
    }

    /** The availability of every backend that was considered. */
    public List<Availability> tried() {
        return tried;
    }

    private static String describe(List<Availability> tried) {
        if (tried.isEmpty()) {
            return "no hypervisor backend on the class path: add ignition-kvm (Linux x86_64) or "
                    + "ignition-hvf (macOS arm64) as a dependency";
        }
        StringBuilder sb = new StringBuilder("no usable hypervisor backend: ");
        for (int i = 0; i < tried.size(); i++) {
            if (i > 0) {
                sb.append("; ");
            }
            sb.append(tried.get(i).backend()).append(": ").append(tried.get(i).reason());
        }
        return sb.toString();
    }
}
