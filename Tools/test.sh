#!/usr/bin/env bash
# make test: the hosted unit tests of Kernel/Core, the Promela models of
# the cross-kernel protocols (Tools/models.sh), a short run of every Core
# libFuzzer target (Tools/fuzz.sh short), then the QEMU boot scenarios. The runner prints the one closing line for all of them
# together: "N passed, N failed".
set -uo pipefail
runner=$1 kernel=$2
shift 2
mkdir -p build
log=build/hosted-tests.log
swift test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# Swift Testing closes with "Test run with N tests in M suites passed|failed"
# and marks each failed test with "✘ Test NAME failed".
total=$(sed -nE 's/^. Test run with ([0-9]+) tests? .*/\1/p' "$log" | tail -1)
failed=$(grep -E '^✘ Test .* failed' "$log" | grep -vc 'Test run with')
passed=$(( ${total:-0} - failed ))
[ "$passed" -ge 0 ] || passed=0
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "test.sh: swift test exited with status $status (build failure or crash)" >&2
  failed=1
fi
echo "hosted tests: $passed passed, $failed failed"
# Runs a checker that closes with "NAME: P passed, F failed" and adds its
# counts; one that does not finish counts as one failure.
add_counts() {
  local name=$1 log=$2
  shift 2
  local last
  last=$("$@" | tee "$log" | tail -n 1)
  cat "$log"
  local p f
  p=$(echo "$last" | sed -nE "s/^$name: ([0-9]+) passed, ([0-9]+) failed\$/\\1/p")
  f=$(echo "$last" | sed -nE "s/^$name: ([0-9]+) passed, ([0-9]+) failed\$/\\2/p")
  if [ -z "$p" ]; then
    echo "test.sh: $1 did not finish" >&2
    p=0 f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
}
add_counts models build/models.log Tools/models.sh
add_counts fuzz build/fuzz-short.log Tools/fuzz.sh short
exec "$runner" run --kernel "$kernel" --hosted-passed "$passed" --hosted-failed "$failed" "$@"
