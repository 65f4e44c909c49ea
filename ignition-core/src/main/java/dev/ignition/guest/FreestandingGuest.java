package dev.ignition.guest;

import java.util.Arrays;
import java.util.Objects;

/**
 * A freestanding x86_64 program: raw machine code loaded at {@code loadAddress} and entered in
 * 64-bit mode at {@code entryAddress}, with the first 4 GiB identity mapped (user-accessible,
 * writable), interrupts off and a stack below 0x9000. See {@link TestGuests} for the built-in ones
 * and their protocols.
 *
 * <p>The program runs in user mode: CPL 3 with IOPL 3. Port I/O ({@code in}, {@code out}), MMIO and
 * all of memory are available; privileged instructions ({@code hlt}, {@code lgdt}, {@code mov crN},
 * {@code wrmsr}, …) fault, and with no IDT the fault ends the VM as a triple fault. End the VM
 * through the exit port (0xf4) instead of halting. User mode keeps the guest off the slow path of
 * hypervisors that emulate supervisor code (KVM's PVM flavour runs CPL 3 natively).
 *
 * @param name a short name for logs
 * @param code the machine code
 * @param loadAddress guest-physical load address (at least 1 MiB)
 * @param entryAddress where the vCPU starts
 * @param requiredMemory the least guest RAM it needs (code, stack and any data it touches)
 */
public record FreestandingGuest(String name, byte[] code, long loadAddress, long entryAddress, long requiredMemory)
        implements Guest {
    public FreestandingGuest {
        Objects.requireNonNull(name, "name");
        code = code.clone();
    }

    @Override
    public byte[] code() {
        return code.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FreestandingGuest g && g.name.equals(name) && Arrays.equals(g.code, code)
                && g.loadAddress == loadAddress && g.entryAddress == entryAddress && g.requiredMemory == requiredMemory;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, Arrays.hashCode(code), loadAddress, entryAddress);
    }

    @Override
    public String toString() {
        return "FreestandingGuest[" + name + ", " + code.length + " bytes at 0x" + Long.toHexString(loadAddress) + "]";
    }
}
