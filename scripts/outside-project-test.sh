#!/usr/bin/env bash
# Builds a project outside the reactor the way a user would: the README's "Add Ignition to your
# build" Maven snippet and its EchoTest class, against Ignition installed into a private local
# repository under target/ (never ~/.m2). Checks that the test runs (or skips with the probe's
# reason where no backend can run), that its timings show in Surefire's output, and that the same
# project without the backend fails with the artifact to add. Run by the unit tier of
# `./ignition test` (JAVA_HOME and PATH already set); prints "outside-project: N passed, N failed".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK="$ROOT/target/outside-project"
REPO="$WORK/m2"
APP="$WORK/app"
LOG="$WORK/log"
MVN=(mvn -B -e -Dstyle.color=never -Dmaven.repo.local="$REPO")
mkdir -p "$WORK" "$REPO" "$LOG"
passed=0 failed=0
fail() { echo "outside-project: $*" >&2; failed=$((failed + 1)); }

# Seed the private repository from ~/.m2 (read as a file:// repository, so nothing is written
# there) before Maven Central; kept only when the user has no settings of their own.
if [ ! -f "$HOME/.m2/settings.xml" ] && [ -d "$HOME/.m2/repository" ]; then
  cat > "$WORK/settings.xml" <<XML
<settings>
  <profiles>
    <profile>
      <id>seed-from-user-repository</id>
      <repositories>
        <repository><id>user-m2</id><url>file://$HOME/.m2/repository</url><releases><checksumPolicy>ignore</checksumPolicy></releases><snapshots><enabled>false</enabled></snapshots></repository>
      </repositories>
      <pluginRepositories>
        <pluginRepository><id>user-m2</id><url>file://$HOME/.m2/repository</url><releases><checksumPolicy>ignore</checksumPolicy></releases><snapshots><enabled>false</enabled></snapshots></pluginRepository>
      </pluginRepositories>
    </profile>
  </profiles>
  <activeProfiles><activeProfile>seed-from-user-repository</activeProfile></activeProfiles>
</settings>
XML
  MVN+=(-s "$WORK/settings.xml")
fi

# The README's blocks: the first ```LANG block after the heading $1.
readme_block() { # $1 = heading, $2 = language
  awk -v h="$1" -v fence="\`\`\`$2" '
    $0 == h { found = 1; next }
    found && !inside && $0 == fence { inside = 1; next }
    inside && $0 == "```" { exit }
    inside { print }' "$ROOT/README.md"
}
snippet=$(readme_block "## Add Ignition to your build" xml)
echotest=$(readme_block "## Using Ignition in JUnit tests" java)
[ -n "$snippet" ] && [ -n "$echotest" ] || { echo "outside-project: README.md lacks the Maven snippet or the EchoTest class" >&2; exit 1; }
version=$(sed -n 's:^  <version>\(.*\)</version>:\1:p' "$ROOT/pom.xml" | head -1)
grep -q "<version>$version</version>" <<<"$snippet" \
  || { echo "outside-project: the README's Maven snippet does not name version $version of pom.xml" >&2; exit 1; }

echo "== outside project: installing Ignition $version into $REPO" >&2
if ! "${MVN[@]}" -q install -Dmaven.test.skip=true -pl ignition-bom,ignition-junit,ignition-kvm -am \
    > "$LOG/install.log" 2>&1; then
  tail -40 "$LOG/install.log" >&2
  echo "outside-project: 0 passed, 1 failed"
  exit 1
fi
for a in ignition-core ignition-junit ignition-kvm; do
  for c in "" -sources -javadoc; do
    [ -f "$REPO/dev/ignition/$a/$version/$a-$version$c.jar" ] || fail "$a-$version$c.jar was not installed"
  done
done

rm -rf "$APP"; mkdir -p "$APP/src/test/java/com/example"
write_pom() { # $1 = the snippet to use
  cat > "$APP/pom.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>outside</artifactId>
  <version>1</version>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
$1
</project>
XML
  # The user's own assertion library, as EchoTest uses AssertJ.
  sed -i 's|^</dependencies>|  <dependency><groupId>org.assertj</groupId><artifactId>assertj-core</artifactId><version>3.27.7</version><scope>test</scope></dependency>\n</dependencies>|' "$APP/pom.xml"
}
cat > "$APP/src/test/java/com/example/EchoTest.java" <<JAVA
package com.example;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VirtualMachine;
import dev.ignition.guest.TestGuests;
import dev.ignition.junit.IgnitionTest;
import dev.ignition.junit.VmTemplate;
import java.time.Duration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

$echotest
JAVA

host_kvm_usable() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }
require=""; host_kvm_usable && require=kvm   # where KVM is here, the test must run, not skip

# 1. As the README says: the test runs (or skips with the probe's reason where KVM is unusable).
write_pom "$snippet"
echo "== outside project: mvn test with the README's snippet" >&2
(cd "$APP" && IGNITION_REQUIRE_BACKENDS=$require "${MVN[@]}" test) > "$LOG/with-backend.log" 2>&1 || true
out="$LOG/with-backend.log"
xml="$APP/target/surefire-reports/TEST-com.example.EchoTest.xml"
if grep -q '^\[INFO\] BUILD SUCCESS' "$out" && grep -q 'Tests run: 1, Failures: 0, Errors: 0, Skipped: 0' "$out"; then
  if grep -q '^\[ignition\] EchoTest.ECHO: template booted and ready in ' "$out" \
      && grep -q '^\[ignition\] EchoTest.ECHO: 1 fork in ' "$out" \
      && grep -q '\[ignition\] EchoTest.ECHO: template booted and ready in ' "$xml" \
      && grep -q '\[ignition\] EchoTest.ECHO: forked for echoes(VirtualMachine) in ' "$xml"; then
    passed=$((passed + 1))
  else
    fail "EchoTest ran, but its [ignition] timing lines are missing from Surefire's output or XML report ($out)"
  fi
elif [ -z "$require" ] && grep -q 'Tests run: 1, Failures: 0, Errors: 0, Skipped: 1' "$out"; then
  echo "outside-project: EchoTest skipped (no usable /dev/kvm here): $(grep -ho 'message="[^"]*"' "$APP"/target/surefire-reports/*.xml | head -1)" >&2
  passed=$((passed + 1))
else
  grep -E 'ERROR|Tests run' "$out" | head -30 >&2
  fail "the README's project did not build and pass (see $out)"
fi

# 2. Without the backend: a failure that names the artifact to add, not a skip.
write_pom "$(awk '/<dependency>/ { buf = $0; next } buf != "" { buf = buf "\n" $0; if ($0 ~ /<\/dependency>/) { if (buf !~ /ignition-kvm/) print buf; buf = "" } next } { print }' <<<"$snippet")"
grep -q ignition-kvm "$APP/pom.xml" && fail "could not remove ignition-kvm from the snippet"
echo "== outside project: mvn test without a backend (must fail and say what to add)" >&2
(cd "$APP" && "${MVN[@]}" test) > "$LOG/without-backend.log" 2>&1 || true
out="$LOG/without-backend.log"
if grep -q '^\[INFO\] BUILD FAILURE' "$out" && grep -q 'No Ignition backend is on the test class path' "$out" \
    && grep -q 'dev.ignition:ignition-kvm' "$out"; then
  passed=$((passed + 1))
else
  grep -E 'ERROR|Tests run|BUILD' "$out" | head -20 >&2
  fail "without a backend the project did not fail with the artifact to add (see $out)"
fi

echo "outside-project: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
