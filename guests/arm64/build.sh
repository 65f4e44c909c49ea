#!/usr/bin/env bash
# Builds Ignition's arm64 Linux guest: a kernel Image cross-compiled from the distribution's
# linux-source with kernel.config merged over tinyconfig, and busybox from the arm64
# busybox-static package. Results are cached outside the repository, keyed by every input, and
# the script prints the cache directory (holding Image, busybox, config) on its last line.
#
#   guests/arm64/build.sh            build (or reuse) and print the directory
#   IGNITION_GUEST_CACHE=DIR ...     cache root (default: ~/.cache/ignition/guests)
#
# Needs (Debian): gcc-aarch64-linux-gnu flex bison bc libssl-dev libelf-dev linux-source-6.1,
# and `dpkg --add-architecture arm64; apt-get update` for busybox-static:arm64.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${IGNITION_GUEST_CACHE:-$HOME/.cache/ignition/guests}
SRC_TARBALL=${LINUX_SOURCE_TARBALL:-$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -1 || true)}
CROSS=aarch64-linux-gnu-
JOBS=${JOBS:-3}

die() { echo "guests/arm64/build.sh: $*" >&2; exit 1; }
[ -n "$SRC_TARBALL" ] && [ -f "$SRC_TARBALL" ] || die "no /usr/src/linux-source-*.tar.xz: apt-get install linux-source-6.1"
command -v ${CROSS}gcc >/dev/null || die "${CROSS}gcc missing: apt-get install gcc-aarch64-linux-gnu"
for t in flex bison bc; do command -v $t >/dev/null || die "$t missing: apt-get install flex bison bc libssl-dev libelf-dev"; done

BB_VERSION=$(apt-cache policy busybox-static:arm64 2>/dev/null | awk '/Candidate:/ {print $2}')
[ -n "$BB_VERSION" ] && [ "$BB_VERSION" != "(none)" ] \
  || die "busybox-static:arm64 not known to apt: dpkg --add-architecture arm64 && apt-get update"

# Cache key: this script, the config fragment, the kernel source, the compiler, busybox's version.
KEY=$( { sha256sum "$HERE/build.sh" "$HERE/kernel.config"; stat -c '%n %s %Y' "$SRC_TARBALL";
         ${CROSS}gcc --version | head -1; echo "busybox $BB_VERSION"; } | sha256sum | cut -c1-16)
OUT="$CACHE_ROOT/arm64-$KEY"
if [ -f "$OUT/Image" ] && [ -f "$OUT/busybox" ]; then
  echo "cached: $OUT" >&2
  echo "$OUT"
  exit 0
fi
WORK="$CACHE_ROOT/arm64-$KEY.work"
rm -rf "$WORK"; mkdir -p "$WORK"

echo "extracting $(basename "$SRC_TARBALL")" >&2
tar -C "$WORK" -xf "$SRC_TARBALL"
KSRC=$(find "$WORK" -maxdepth 1 -type d -name 'linux-source-*' | head -1)
[ -n "$KSRC" ] || die "unexpected layout of $SRC_TARBALL"

M=(make -C "$KSRC" ARCH=arm64 CROSS_COMPILE=$CROSS)
"${M[@]}" -s tinyconfig
(cd "$KSRC" && ARCH=arm64 CROSS_COMPILE=$CROSS scripts/kconfig/merge_config.sh -m .config "$HERE/kernel.config" >/dev/null)
"${M[@]}" -s olddefconfig
# merge_config drops what Kconfig rejects; fail loudly instead of booting a kernel without it.
missing=0
while IFS= read -r line; do
  case "$line" in CONFIG_*=y) grep -qx "$line" "$KSRC/.config" || { echo "not set in .config: $line" >&2; missing=1; } ;; esac
done < "$HERE/kernel.config"
[ "$missing" = 0 ] || die "kernel.config options were dropped by Kconfig (see above)"

echo "building Image with $JOBS jobs" >&2
"${M[@]}" -s -j"$JOBS" Image

echo "fetching busybox-static:arm64 $BB_VERSION" >&2
(cd "$WORK" && apt-get download -q "busybox-static:arm64=$BB_VERSION" >/dev/null)
dpkg-deb -x "$WORK"/busybox-static_*_arm64.deb "$WORK/bb"

STAGE="$OUT.tmp"
rm -rf "$STAGE"; mkdir -p "$STAGE"
cp "$KSRC/arch/arm64/boot/Image" "$STAGE/Image"
cp "$KSRC/.config" "$STAGE/config"
cp "$WORK/bb/bin/busybox" "$STAGE/busybox"
{ echo "kernel: $(basename "$SRC_TARBALL")"; echo "compiler: $(${CROSS}gcc --version | head -1)";
  echo "busybox-static:arm64 $BB_VERSION"; } > "$STAGE/INPUTS"
rm -rf "$OUT"; mv "$STAGE" "$OUT"
rm -rf "$WORK"
echo "$OUT"
