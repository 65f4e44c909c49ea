#!/usr/bin/env bash
# The programs Ignition's build and test tiers use beyond a JDK, each with the Debian package that
# brings it. `.ci/run` and `./ignition test` run this; tests whose tool is missing skip and name
# the package.
#
#   scripts/test-tools.sh            install the missing packages when run as root (apt-get);
#                                    otherwise list them and what skips without them
#   scripts/test-tools.sh --check    only list what is missing
#
# IGNITION_INSTALL_TOOLS=0 turns installing off (as with --check).
set -euo pipefail

# command or path | Debian package | what needs it
TOOLS=(
  "mvn|maven|the build itself"
  "modinfo|kmod|the nested-KVM runner"
  "mkfs.xfs|xfsprogs|FICLONE tests on a loop-mounted xfs"
  "filefrag|e2fsprogs|FICLONE tests, which check shared extents"
  "losetup|mount|FICLONE tests, on a loop device"
  "dtc|device-tree-compiler|device tree tests, which decompile the DTBs"
  "aarch64-linux-gnu-objdump|binutils-aarch64-linux-gnu|arm64 guest program tests"
  "qemu-system-aarch64|qemu-system-arm|arm64 programs run on QEMU's CPU"
  "cpio|cpio|initramfs tests, which extract with GNU cpio"
  "/bin/busybox|busybox-static|shell-session tests, which drive a real sh"
  "passt|passt|user-mode networking tests, which start passt"
)

present() { # $1 = a command name or an absolute path
  case "$1" in
    /*) [ -x "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

install=1
[ "${1:-}" = "--check" ] && install=0
[ "${IGNITION_INSTALL_TOOLS:-1}" = "0" ] && install=0

missing=() why=()
for t in "${TOOLS[@]}"; do
  IFS='|' read -r cmd pkg what <<<"$t"
  present "$cmd" || { missing+=("$pkg"); why+=("$pkg ($what)"); }
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ $install -eq 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ignition: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "ignition: missing Debian packages; the tests that need them skip and say why:" >&2
printf '  %s\n' "${why[@]}" >&2
echo "  (install them with: apt-get install ${missing[*]}; ./ignition test does so when run as root)" >&2
