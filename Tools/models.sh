#!/usr/bin/env bash
# The Promela models of the cross-kernel protocols (Tests/Models/*.pml),
# checked exhaustively with spin: each model must show no error, and its
# deliberately broken variant (the same file with -DBROKEN) must fail, so
# a property that can never fail is caught. Each model's header says how
# to compile and run its verifier:
#   // cc-flags: flags for the C compiler building pan.c
#   // pan-flags: flags for ./pan
# Prints one line per check (states stored, time, memory) and closes with
# "models: N passed, N failed". Bounded: 300 s and 4 GB per check.
set -uo pipefail
cd "$(dirname "$0")/.."
cc=$(command -v gcc || command -v cc || command -v clang || true)
passed=0 failed=0
fail() {
  echo "FAIL  $1"
  failed=$((failed + 1))
}
if ! command -v spin >/dev/null || [ -z "$cc" ]; then
  echo "models.sh: spin or a C compiler is missing (Tools/install-deps.sh installs them)" >&2
  for model in Tests/Models/*.pml; do fail "$(basename "$model" .pml): not checked"; done
  echo "models: $passed passed, $failed failed"
  exit 0
fi
for model in Tests/Models/*.pml; do
  [ -e "$model" ] || continue
  name=$(basename "$model" .pml)
  ccflags=$(sed -nE 's#^// cc-flags: ##p' "$model" | head -1)
  panflags=$(sed -nE 's#^// pan-flags: ##p' "$model" | head -1)
  for variant in model broken; do
    dir=$(mktemp -d)
    cp "$model" "$dir/"
    define=
    [ "$variant" = broken ] && define=-DBROKEN
    (
      cd "$dir" || exit 1
      ulimit -v 4194304
      timeout 300 spin $define -a "$name.pml" >spin.log 2>&1 &&
        $cc $ccflags -o pan pan.c >cc.log 2>&1 &&
        timeout 300 ./pan $panflags >pan.log 2>&1
      true
    )
    errors=$(sed -nE 's/.*errors: ([0-9]+).*/\1/p' "$dir/pan.log" 2>/dev/null | tail -1)
    states=$(sed -nE 's/^ *([0-9.e+]+) states, stored.*/\1/p' "$dir/pan.log" 2>/dev/null | head -1)
    seconds=$(sed -nE 's/^pan: elapsed time ([0-9.e+-]+) seconds.*/\1/p' "$dir/pan.log" 2>/dev/null | tail -1)
    memory=$(sed -nE 's/^ *([0-9.]+)\s+total actual memory usage.*/\1/p' "$dir/pan.log" 2>/dev/null | tail -1)
    what="$name${define:+ (broken variant)}: ${states:-?} states, ${seconds:-?} s, ${memory:-?} MB"
    if [ -z "$errors" ]; then
      fail "$what: the check did not run ($(tail -n 2 "$dir"/*.log | tr '\n' ' '))"
    elif [ "$variant" = model ] && [ "$errors" -eq 0 ]; then
      echo "PASS  $what, no errors"
      passed=$((passed + 1))
    elif [ "$variant" = broken ] && [ "$errors" -gt 0 ]; then
      echo "PASS  $what, fails as it must ($(grep -m1 -E 'pan:[0-9]+:|assertion violated|invalid end state|acceptance cycle' "$dir/pan.log" | sed 's/^ *//'))"
      passed=$((passed + 1))
    else
      fail "$what, errors: $errors"
    fi
    rm -rf "$dir"
  done
done
echo "models: $passed passed, $failed failed"
