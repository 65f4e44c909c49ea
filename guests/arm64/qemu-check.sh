#!/usr/bin/env bash
# Boots the arm64 guest (built or reused by build.sh) under qemu-system-aarch64 -M virt with
# Ignition's own device tree, placement and entry registers; see Arm64QemuBootTest for what it
# checks. This checks the device tree and the guest kernel/initramfs, not Hypervisor.framework.
# Needs: qemu-system-arm (Debian), a JDK 22+ via ./ignition, and build.sh's dependencies.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
command -v qemu-system-aarch64 >/dev/null || { echo "qemu-check.sh: apt-get install qemu-system-arm" >&2; exit 1; }
GUEST=$("$HERE/build.sh" | tail -1)
cd "$ROOT"
IGNITION_ARM64_GUEST="$GUEST" ./ignition mvn -pl ignition-core -Dtest=Arm64QemuBootTest,Arm64ImageTest \
  -Dignition.groups= -Dsurefire.failIfNoSpecifiedTests=false test
