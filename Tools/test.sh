#!/usr/bin/env bash
# make test: the hosted unit tests of Kernel/Core, then the QEMU boot
# scenarios. The runner prints the one closing line for both together:
# "N passed, N failed".
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
exec "$runner" run --kernel "$kernel" --hosted-passed "$passed" --hosted-failed "$failed" "$@"
