#!/usr/bin/env bash
# Builds Ignition's default x86_64 Linux guest: a micro-VM kernel from Debian's
# linux-source-6.1 (tinyconfig + kernel.config beside this script) and busybox from
# Debian's busybox-static. Results are cached outside the repository, keyed by a hash
# of every input (this script, the config fragment, package versions, compiler), so
# running it again with the same inputs does nothing but print where the results are.
#
#   guests/x86_64/build.sh [--install-deps] [--jobs N]
#
# Cache: $IGNITION_CACHE_DIR/guests, default ${XDG_CACHE_HOME:-~/.cache}/ignition/guests.
#   x86_64-<key>/{bzImage,vmlinux,busybox,config,kernel.release,guest.properties}
#   x86_64-default -> x86_64-<key>   (what dev.ignition.guest.LinuxGuests.defaultGuest() reads)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INSTALL_DEPS=0
JOBS=$(( $(nproc) + 1 ))
while [ $# -gt 0 ]; do
  case "$1" in
    --install-deps) INSTALL_DEPS=1; shift;;
    --jobs) JOBS=$2; shift 2;;
    -h|--help) sed -n '2,13p' "$0"; exit 0;;
    *) echo "build.sh: unknown argument '$1' (try --help)" >&2; exit 2;;
  esac
done

DEPS=(build-essential flex bison bc libelf-dev libssl-dev linux-source-6.1 busybox-static)
missing=()
for p in "${DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$INSTALL_DEPS" = 1 ]; then
    echo "build.sh: installing ${missing[*]}" >&2
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  else
    echo "build.sh: missing Debian packages: ${missing[*]}" >&2
    echo "  install them with: apt-get install -y ${missing[*]}" >&2
    echo "  or rerun as root with: $0 --install-deps" >&2
    exit 1
  fi
fi

SRC_TAR=/usr/src/linux-source-6.1.tar.xz
BUSYBOX_BIN=$(dpkg -L busybox-static | grep -E '^/(usr/)?bin/busybox$' | head -n1)
[ -f "$SRC_TAR" ] || { echo "build.sh: $SRC_TAR not found (package linux-source-6.1)" >&2; exit 1; }
[ -x "$BUSYBOX_BIN" ] || { echo "build.sh: busybox-static installs no bin/busybox" >&2; exit 1; }

inputs() {
  echo "script $(sha256sum < "$HERE/build.sh" | cut -d' ' -f1)"
  echo "config $(sha256sum < "$HERE/kernel.config" | cut -d' ' -f1)"
  echo "linux-source-6.1 $(dpkg-query -W -f='${Version}' linux-source-6.1)"
  echo "busybox-static $(dpkg-query -W -f='${Version}' busybox-static)"
  echo "gcc $(gcc -dumpfullversion)"
}
KEY=$(inputs | sha256sum | cut -c1-16)
ROOT=${IGNITION_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ignition}/guests
OUT=$ROOT/x86_64-$KEY

report() {
  echo "Ignition x86_64 guest (inputs $KEY) in $OUT"
  echo "  kernel  $OUT/bzImage ($(stat -c %s "$OUT/bzImage") bytes, Linux $(cat "$OUT/kernel.release"))"
  echo "  vmlinux $OUT/vmlinux ($(stat -c %s "$OUT/vmlinux") bytes)"
  echo "  busybox $OUT/busybox ($(stat -c %s "$OUT/busybox") bytes)"
  echo "$OUT"
}

link_default() { ln -sfn "x86_64-$KEY" "$ROOT/x86_64-default.tmp.$$" && mv -T "$ROOT/x86_64-default.tmp.$$" "$ROOT/x86_64-default"; }

if [ -f "$OUT/guest.properties" ]; then
  link_default
  report
  exit 0
fi

mkdir -p "$ROOT"
WORK=$ROOT/.build-x86_64-$KEY
rm -rf "$WORK"
mkdir -p "$WORK/out"
trap 'rm -rf "$WORK"' EXIT

echo "build.sh: unpacking $SRC_TAR" >&2
tar -C "$WORK" -xJf "$SRC_TAR"
KSRC=$WORK/linux-source-6.1
cd "$KSRC"
echo "build.sh: configuring (tinyconfig + kernel.config)" >&2
make -s ARCH=x86_64 tinyconfig >/dev/null
scripts/kconfig/merge_config.sh -m -O . .config "$HERE/kernel.config" >/dev/null
make -s ARCH=x86_64 olddefconfig >/dev/null

# merge_config only warns when Kconfig drops a requested option; a guest missing one
# fails in confusing ways at boot, so a dropped option fails the build here.
bad=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) want=$line;;
    "# CONFIG_"*" is not set") want=$line;;
    *) continue;;
  esac
  opt=${want#\# }; opt=${opt%%[= ]*}
  if [[ $want == "#"* ]]; then
    if grep -q "^$opt=" .config; then echo "build.sh: $opt should be off but is $(grep "^$opt=" .config)" >&2; bad=1; fi
  elif ! grep -qx "$want" .config; then
    echo "build.sh: wanted $want, got: $(grep -E "^$opt=|^# $opt is not set" .config || echo absent)" >&2; bad=1
  fi
done < "$HERE/kernel.config"
[ "$bad" = 0 ] || { echo "build.sh: kernel.config is not satisfiable on this source" >&2; exit 1; }

echo "build.sh: building vmlinux and bzImage with -j$JOBS (a few minutes)" >&2
make -s ARCH=x86_64 -j"$JOBS" vmlinux bzImage >"$WORK/make.log" 2>&1 \
  || { tail -n 40 "$WORK/make.log" >&2; echo "build.sh: kernel build failed" >&2; exit 1; }

STAGE=$WORK/out
cp arch/x86/boot/bzImage "$STAGE/bzImage"
cp vmlinux "$STAGE/vmlinux"
cp .config "$STAGE/config"
make -s ARCH=x86_64 kernelrelease > "$STAGE/kernel.release"
cp "$BUSYBOX_BIN" "$STAGE/busybox"
inputs > "$STAGE/inputs.txt"
{
  echo "# Ignition x86_64 guest build; read by dev.ignition.guest.LinuxGuests"
  echo "arch=x86_64"
  echo "key=$KEY"
  echo "kernel=bzImage"
  echo "vmlinux=vmlinux"
  echo "busybox=busybox"
  echo "kernelRelease=$(cat "$STAGE/kernel.release")"
} > "$STAGE/guest.properties"

# Publish atomically: the cache never holds a half-written guest.
rm -rf "$OUT"
mv "$STAGE" "$OUT"
link_default
report
