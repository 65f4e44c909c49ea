#!/usr/bin/env bash
# Signs a java launcher ad hoc with the com.apple.security.hypervisor entitlement, which
# Hypervisor.framework requires of the process's main executable (without it hv_vm_create
# returns HV_DENIED, or HV_UNSUPPORTED on recent macOS).
#
#   scripts/macos-sign-java.sh                    signs $JAVA_HOME/bin/java (or the newest arm64 JDK >= 22)
#   scripts/macos-sign-java.sh /path/to/bin/java  signs that launcher (or your jpackage launcher)
#
# The entitlements the executable already has (a JDK vendor's allow-jit and friends) are kept and
# com.apple.security.hypervisor is added. The ad hoc signature replaces the vendor's: fine for
# development; for distribution sign with your identity and --options runtime (docs/macos.md).
# A JDK update replaces the launcher: run this again afterwards.
set -euo pipefail

die() { echo "macos-sign-java.sh: $*" >&2; exit 1; }

[ "$(uname -s)" = Darwin ] || die "this is $(uname -s); Hypervisor.framework and codesign exist only on macOS"
[ "$(uname -m)" = arm64 ] || die "this Mac is $(uname -m); Ignition's hvf backend needs Apple silicon"
command -v codesign >/dev/null || die "codesign not found (install the Xcode command line tools: xcode-select --install)"

target=${1:-}
if [ -z "$target" ]; then
  if [ -n "${JAVA_HOME:-}" ]; then
    target="$JAVA_HOME/bin/java"
  else
    home=$(/usr/libexec/java_home -v 22+ -a arm64 2>/dev/null) \
      || die "no JAVA_HOME and no arm64 JDK 22+ known to /usr/libexec/java_home; pass the java path"
    target="$home/bin/java"
  fi
fi
[ -e "$target" ] || die "$target does not exist"
# codesign signs files, not symlinks (e.g. /usr/bin/java is a stub, Homebrew links into Cellar).
target=$(cd "$(dirname "$target")" && pwd -P)/$(basename "$target")
while [ -L "$target" ]; do
  link=$(readlink "$target")
  case "$link" in /*) target=$link ;; *) target=$(dirname "$target")/$link ;; esac
done
[ "$target" = /usr/bin/java ] && die "/usr/bin/java is Apple's JDK-selector stub; sign \$JAVA_HOME/bin/java instead"
file "$target" | grep -q 'arm64' \
  || die "$target is not an arm64 executable ($(file -b "$target")); use an arm64 JDK, an x86_64 one under Rosetta cannot use the arm64 Hypervisor API"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
plist="$work/entitlements.plist"
# Keep what the executable already has, if anything.
if codesign -d --entitlements - --xml "$target" >"$work/current.plist" 2>/dev/null && [ -s "$work/current.plist" ]; then
  cp "$work/current.plist" "$plist"
else
  cat >"$plist" <<'PLIST'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
</dict>
</plist>
PLIST
fi
/usr/libexec/PlistBuddy -c "Delete :com.apple.security.hypervisor" "$plist" >/dev/null 2>&1 || true
/usr/libexec/PlistBuddy -c "Add :com.apple.security.hypervisor bool true" "$plist"

if [ -w "$target" ]; then SUDO=(); else SUDO=(sudo); echo "$target is not writable by you; using sudo" >&2; fi
"${SUDO[@]}" codesign --force --sign - --entitlements "$plist" "$target"

codesign -d --entitlements - --xml "$target" 2>/dev/null | grep -q 'com.apple.security.hypervisor' \
  || die "codesign ran but $target does not show the entitlement"
echo "signed $target with com.apple.security.hypervisor"
