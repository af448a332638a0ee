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
models=$(Tools/models.sh | tee build/models.log | tail -n 1)
cat build/models.log
models_passed=$(echo "$models" | sed -nE 's/^models: ([0-9]+) passed, ([0-9]+) failed$/\1/p')
models_failed=$(echo "$models" | sed -nE 's/^models: ([0-9]+) passed, ([0-9]+) failed$/\2/p')
if [ -z "$models_passed" ]; then
  echo "test.sh: Tools/models.sh did not finish" >&2
  models_passed=0 models_failed=1
fi
passed=$((passed + models_passed))
failed=$((failed + models_failed))
fuzz=$(Tools/fuzz.sh short | tee build/fuzz-short.log | tail -n 1)
cat build/fuzz-short.log
fuzz_passed=$(echo "$fuzz" | sed -nE 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed$/\1/p')
fuzz_failed=$(echo "$fuzz" | sed -nE 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed$/\2/p')
if [ -z "$fuzz_passed" ]; then
  echo "test.sh: Tools/fuzz.sh did not finish" >&2
  fuzz_passed=0 fuzz_failed=1
fi
passed=$((passed + fuzz_passed))
failed=$((failed + fuzz_failed))
exec "$runner" run --kernel "$kernel" --hosted-passed "$passed" --hosted-failed "$failed" "$@"
