#!/usr/bin/env bash
# vm-tier.sh TAG MODULE...: runs the TAG-tagged tests of MODULEs with the JUnit console
# launcher, on class paths Maven prepared (see test-tiers.sh): no Maven inside the VM that
# provides /dev/kvm, where everything is emulated and slow. Prints "TAG: N passed, N failed, N skipped".
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAUNCHER="$ROOT/target/junit-console/junit-platform-console-standalone.jar"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
JCMD="${JAVA_HOME:+$JAVA_HOME/bin/}jcmd"
STALL_SECONDS=${IGNITION_STALL_SECONDS:-300}
TAG=$1; shift
status=0 passed=0 failed=0 skipped=0

# If the test log stops growing for STALL_SECONDS, appends every thread's Java stack and kernel
# stack to target/TAG-stall.log (once per stall), so a hang explains itself.
watch_for_stall() { # $1 = pid, $2 = log
  local pid=$1 log=$2 size last=-1 quiet=0 t
  while kill -0 "$pid" 2>/dev/null; do
    sleep 10
    size=$(stat -c %s "$log" 2>/dev/null || echo 0)
    if [ "$size" != "$last" ]; then last=$size quiet=0; continue; fi
    quiet=$((quiet + 10))
    [ $quiet -eq "$STALL_SECONDS" ] || continue
    {
      echo "=== no test output for ${STALL_SECONDS}s ($(date -u +%T)); threads of pid $pid"
      for t in /proc/"$pid"/task/*; do
        echo "--- $(cat "$t/comm" 2>/dev/null) tid ${t##*/} wchan $(cat "$t/wchan" 2>/dev/null)"
        head -8 "$t/stack" 2>/dev/null
      done
      timeout 60 "$JCMD" "$pid" Thread.print 2>&1
    } >> "target/$TAG-stall.log"
    echo "$TAG tier: no test output for ${STALL_SECONDS}s; thread dump in $PWD/target/$TAG-stall.log" >&2
  done
}

# Inside the nested runner (IGNITION_NESTED_NET names the modules test-tiers.sh prepared for its
# kernel): passt needs an interface with an address and a default route to start, and the
# runner's machine has only `lo` (down). Load dummy and tun, give dummy0 an address of a
# documentation range with a gateway, and bring lo up for the tests' forwarded ports. Nothing
# leaves the machine: it has no NIC. The guest's DHCP hands it this address and gateway, as
# passt copies them from the host.
nested_network() {
  local dir=${IGNITION_NESTED_NET:-} ko
  [ -n "$dir" ] || return 0
  ip link set lo up 2>/dev/null
  if ip -o link show dummy0 >/dev/null 2>&1; then return 0; fi
  if [ ! -f "$dir/modules" ] || [ "$(basename "$dir")" != "$(uname -r)" ]; then
    echo "vm-tier: no network modules for kernel $(uname -r) (have ${dir:-none}); the tests that start passt cannot run" >&2
    return 0
  fi
  while read -r ko; do
    insmod "$dir/$ko" 2>/dev/null || grep -q "^${ko%%.ko*} " /proc/modules \
      || echo "vm-tier: insmod $dir/$ko failed" >&2
  done < "$dir/modules"
  # Loading dummy makes dummy0 itself (numdummies=1); add one only where it did not.
  { ip -o link show dummy0 >/dev/null 2>&1 || ip link add dummy0 type dummy; } && ip addr add 192.0.2.15/24 dev dummy0 && ip link set dummy0 up \
    && ip route add default via 192.0.2.1 dev dummy0 \
    || echo "vm-tier: could not set up dummy0; the tests that start passt cannot run" >&2
  # The runner chroots into the host's filesystem (mounted at /host of its initramfs), and a
  # chrooted process may not create a user namespace (EPERM, unshare(2)), which passt needs for
  # its sandbox. Move that mount over the initramfs root, as switch_root does: the chroot then is
  # the mount namespace's root. The runner's init keeps its own root and still reports the status.
  if ! unshare -U true 2>/dev/null && [ "$(stat -Lc %d:%i /)" = "$(stat -Lc %d:%i /proc/1/root/host 2>/dev/null)" ]; then
    mount -n --no-canonicalize --move /proc/1/root/host /proc/1/root && unshare -U true \
      || echo "vm-tier: a user namespace cannot be created here; the tests that start passt cannot run" >&2
  fi
}
nested_network

for m in "$@"; do
  cd "$ROOT/$m" || exit 2
  for attempt in 1 2; do
    rm -rf target/$TAG-reports target/$TAG-stall.log hs_err_pid*.log
    "$JAVA" --enable-native-access=ALL-UNNAMED -Xss2m -jar "$LAUNCHER" execute \
      --class-path "$(cat target/test.classpath):target/classes:target/test-classes" \
      --scan-class-path target/test-classes --include-tag "$TAG" \
      --reports-dir target/$TAG-reports --details=verbose --disable-banner --disable-ansi-colors \
      --config=junit.jupiter.execution.timeout.default=8m \
      --config=junit.jupiter.execution.timeout.thread.mode.default=SEPARATE_THREAD \
      > "target/$TAG-tier.log" 2>&1 &
    pid=$!
    watch_for_stall $pid "target/$TAG-tier.log" &
    watcher=$!
    wait $pid
    rc=$?
    kill $watcher 2>/dev/null; wait $watcher 2>/dev/null
    # A JVM killed by a signal (a crash report, or status > 128) is not a test result: under full
    # emulation the JVM itself has crashed in JIT-compiled JDK code. Say so and run it once more.
    if [ $rc -gt 128 ] || ls hs_err_pid*.log >/dev/null 2>&1; then
      echo "$TAG tier, $m: the test JVM died (status $rc): $(grep -m1 -E 'SIG[A-Z]+ \(|Real-time signal' "target/$TAG-tier.log" hs_err_pid*.log 2>/dev/null | head -1)" >&2
      [ $attempt -eq 1 ] && { echo "$TAG tier, $m: running it once more" >&2; continue; }
    fi
    break
  done
  [ $rc -eq 0 ] || status=1
  # The runner's own output may be buffered; the log on disk is complete. Show its summary.
  grep -vE '^\s*$' "target/$TAG-tier.log" | tail -25
  report=target/$TAG-reports/TEST-junit-jupiter.xml
  if [ -f "$report" ]; then
    attr() { sed -n "s/.*<testsuite [^>]*\b$1=\"\([0-9]*\)\".*/\1/p" "$report" | head -1; }
    t=$(attr tests) f=$(attr failures) e=$(attr errors) s=$(attr skipped)
    passed=$((passed + t - f - e - s)); failed=$((failed + f + e)); skipped=$((skipped + s))
    echo "$TAG tier, $m: $t tests, $f failures, $e errors, $s skipped"
  else
    echo "$TAG tier, $m: no report written" >&2; status=1
  fi
done
echo "$TAG: $passed passed, $failed failed, $skipped skipped"
[ "$passed" -gt 0 ] || { echo "$TAG tier ran no test" >&2; status=1; }
exit $status
