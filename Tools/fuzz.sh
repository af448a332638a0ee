#!/usr/bin/env bash
# The libFuzzer targets of Kernel/Core's parsers and state machines
# (Tests/Fuzz, one executable for all of them, chosen by
# TESSERA_FUZZ_TARGET). Builds build/fuzz/tessera-fuzz with
# -sanitize=fuzzer,address when a source is newer than it, then:
#
#   Tools/fuzz.sh short            every target for a few seconds, over a
#                                  copy of its corpus (the repo is not
#                                  changed); for `make test`
#   Tools/fuzz.sh long [SECONDS]   every target SECONDS (default 300), then
#                                  the inputs that add coverage merged into
#                                  Tests/Fuzz/Corpus/TARGET (`make fuzz`)
#   Tools/fuzz.sh seed             rewrite the seed-* inputs from the real
#                                  fixtures (Tests/Fuzz/Seeding)
#   Tools/fuzz.sh compact          shrink every corpus to the seeds and the
#                                  inputs that reach edges they do not
#   Tools/fuzz.sh build            only the build
#
# FUZZ_TARGETS="madt srat" runs only those; FUZZ_SHORT_SECONDS sets the
# short run per target (default 3). Prints one line per target,
# "fuzz TARGET: N runs, cov C, ft F, OK|FAIL", and closes with
# "fuzz: P passed, F failed"; exits non-zero when a target failed. A
# failing input is saved in build/fuzz/crashes/ (reproduce it with
# TESSERA_FUZZ_TARGET=TARGET build/fuzz/tessera-fuzz FILE), the log of
# each run in build/fuzz/logs/.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-short}
seconds=${2:-300}
out=build/fuzz
binary=$out/tessera-fuzz
swift_bin=$(dirname "$(command -v swiftc 2>/dev/null || echo /opt/swift/usr/bin/swiftc)")
swiftc=$swift_bin/swiftc

build() {
  mkdir -p "$out"
  local sources
  sources=$(find Kernel/Core -name '*.swift' | sort; ls Tests/Fuzz/*.swift)
  local newer
  newer=$(find $sources -newer "$binary" 2>/dev/null | head -1)
  if [ -x "$binary" ] && [ -z "$newer" ]; then return 0; fi
  local start=$SECONDS
  # lld: gold warns about every ASan helper symbol it cannot export.
  # shellcheck disable=SC2086
  if ! "$swiftc" -sanitize=fuzzer,address -parse-as-library -O -module-name TesseraFuzz \
    -use-ld=lld $sources -o "$binary.new" >"$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    echo "fuzz.sh: the fuzz build failed" >&2
    return 1
  fi
  mv "$binary.new" "$binary"
  echo "fuzz: built $binary in $((SECONDS - start)) s"
}

seed() {
  mkdir -p "$out"
  # The fixtures say `import TesseraCore`: compiled as that module, the
  # import is ignored.
  "$swiftc" -parse-as-library -module-name TesseraCore $(find Kernel/Core -name '*.swift' | sort) \
    Tests/CoreTests/Fixtures/*.swift Tests/CoreTests/Multiboot2Builder.swift \
    Tests/CoreTests/ELFBuilder.swift Tests/Fuzz/FuzzSupport.swift Tests/Fuzz/FuzzACPISupport.swift \
    Tests/Fuzz/Seeding/SeedCorpus.swift -o "$out/seed-corpus" 2>&1 | grep -v 'ignoring import' |
    grep -E 'error' && return 1
  "$out/seed-corpus" Tests/Fuzz/Corpus
}

# Runs target $1 for $2 seconds over corpus directory $3 (inputs it finds
# are added there); prints the result line and returns 1 on a failure.
run_target() {
  local target=$1 time=$2 corpus=$3 max_len=$4
  local log=$out/logs/$target.log
  local dict=()
  [ -f "Tests/Fuzz/Dictionaries/$target.dict" ] && dict=(-dict="Tests/Fuzz/Dictionaries/$target.dict")
  mkdir -p "$out/logs" "$out/crashes"
  # The Swift runtime's backtracer would hold a crashing run for its
  # interactive timeout; libFuzzer reports the crash itself.
  SWIFT_BACKTRACE=enable=no TESSERA_FUZZ_TARGET=$target \
    timeout $((time + 120)) "$binary" -max_total_time="$time" -max_len="$max_len" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "${dict[@]}" \
    -artifact_prefix="$out/crashes/$target-" "$corpus" >"$log" 2>&1
  local status=$?
  local runs cov ft
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  cov=$(grep -E '^#[0-9]+' "$log" | sed -nE 's/.* cov: ([0-9]+).*/\1/p' | tail -1)
  ft=$(grep -E '^#[0-9]+' "$log" | sed -nE 's/.* ft: ([0-9]+).*/\1/p' | tail -1)
  if [ "$status" -eq 0 ]; then
    echo "fuzz $target: ${runs:-0} runs, cov ${cov:-?}, ft ${ft:-?}, OK"
    return 0
  fi
  echo "fuzz $target: ${runs:-0} runs, cov ${cov:-?}, ft ${ft:-?}, FAIL"
  grep -m3 -E 'fuzz property violated|ERROR: |Fatal error|Test unit written' "$log" | sed 's/^/  /'
  return 1
}

# Keeps the seeds and a small set of inputs that reaches every edge $2
# (the run's corpus) and the repo corpus reach together: a set-cover merge
# on edges alone (-use_counters=0), so the committed corpora stay a few
# dozen files per target rather than one per hit-count feature.
merge_into_repo() {
  local target=$1 work=$2 max_len=$3
  local repo=Tests/Fuzz/Corpus/$target
  local merged
  merged=$(mktemp -d "$out/merge.XXXXXX")
  cp "$repo"/seed-* "$merged"/ 2>/dev/null
  SWIFT_BACKTRACE=enable=no TESSERA_FUZZ_TARGET=$target "$binary" -merge=1 -set_cover_merge=1 \
    -use_counters=0 -max_len="$max_len" \
    -rss_limit_mb=2048 -timeout=10 "$merged" "$repo" "$work" >"$out/logs/$target-merge.log" 2>&1 ||
    { echo "fuzz $target: merge failed (see $out/logs/$target-merge.log)"; rm -rf "$merged"; return; }
  find "$repo" -type f ! -name 'seed-*' -delete
  find "$merged" -type f ! -name 'seed-*' -exec cp {} "$repo"/ \;
  rm -rf "$merged"
  echo "fuzz $target: corpus now $(find "$repo" -type f | wc -l) inputs"
}

case $mode in
  build) build; exit $? ;;
  seed) seed; exit $? ;;
  compact)
    build || exit 1
    listing=$(TESSERA_FUZZ_LIST=1 "$binary")
    mkdir -p "$out/logs"
    for target in ${FUZZ_TARGETS:-$(echo "$listing" | awk '{print $1}')}; do
      empty=$(mktemp -d "$out/empty.XXXXXX")
      merge_into_repo "$target" "$empty" "$(echo "$listing" | awk -v t="$target" '$1 == t {print $2}')"
      rmdir "$empty"
    done
    exit 0
    ;;
  short | long) ;;
  *)
    echo "usage: Tools/fuzz.sh short | long [SECONDS] | seed | compact | build" >&2
    exit 2
    ;;
esac

start=$SECONDS
if ! build; then
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi
listing=$(TESSERA_FUZZ_LIST=1 "$binary")
targets=${FUZZ_TARGETS:-$(echo "$listing" | awk '{print $1}')}
[ "$mode" = short ] && seconds=${FUZZ_SHORT_SECONDS:-3}
passed=0 failed=0
for target in $targets; do
  max_len=$(echo "$listing" | awk -v t="$target" '$1 == t {print $2}')
  if [ -z "$max_len" ] || [ ! -d "Tests/Fuzz/Corpus/$target" ]; then
    echo "fuzz $target: 0 runs, cov ?, ft ?, FAIL (no such target or no corpus)"
    failed=$((failed + 1))
    continue
  fi
  work=$(mktemp -d "$out/corpus-$target.XXXXXX")
  cp Tests/Fuzz/Corpus/"$target"/* "$work"/
  if run_target "$target" "$seconds" "$work" "$max_len"; then
    passed=$((passed + 1))
    [ "$mode" = long ] && merge_into_repo "$target" "$work" "$max_len"
  else
    failed=$((failed + 1))
  fi
  rm -rf "$work"
done
echo "fuzz: $mode run took $((SECONDS - start)) s"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
