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
