#!/usr/bin/env bash
# make bench [ONLY=group,...]: boot Tessera under QEMU, run the benchmark
# scenarios (Tests/Bench/GROUP-icount.scenario under -icount shift=0, where a
# TSC tick is one guest instruction, and GROUP-cycles.scenario under plain
# TCG), time boots from 1 to 128 vCPUs and on 1 to 8 NUMA nodes, then let the
# collector (tessera-bench-collect) check every transcript against the
# catalog Tests/Bench/figures.json and write Tests/Bench/results.json,
# Tests/Bench/RESULTS.md, the plots in Tests/Bench/plots and the README's
# generated table.
#
#   Tools/bench.sh RUNNER KERNEL COLLECTOR
#
# Groups: alloc ipi ipc lwk dtu boot. ONLY=ipc,dtu measures those again; the
# other figures are carried over from the last results.json with their dates.
set -euo pipefail
runner=$1 kernel=$2 collector=$3
all_groups=(alloc ipi ipc lwk dtu boot)
# Seconds each group took on the development machine (2 cores), for the
# estimate printed before the run.
declare -A seconds=([alloc]=10 [ipi]=10 [ipc]=20 [lwk]=15 [dtu]=25 [boot]=60)

groups=()
if [ -n "${ONLY:-}" ]; then
  IFS=', ' read -r -a groups <<<"$ONLY"
  for group in "${groups[@]}"; do
    if [ -z "${seconds[$group]:-}" ]; then
      echo "make bench: unknown group '$group' in ONLY=$ONLY (groups: ${all_groups[*]})" >&2
      exit 2
    fi
  done
else
  groups=("${all_groups[@]}")
fi
estimate=0
for group in "${groups[@]}"; do estimate=$((estimate + seconds[$group])); done
echo "make bench: ${groups[*]}; this takes about $(((estimate + 59) / 60)) minutes"
started=$(date +%s)

transcripts=build/bench/transcripts
mkdir -p "$transcripts"
collect_groups=()
for group in "${groups[@]}"; do
  if [ "$group" = boot ]; then
    collect_groups+=(boot)
    continue
  fi
  collect_groups+=("$group" "$group-tcg")
  # A group's scenarios: GROUP-icount, GROUP-cycles, and variants of them
  # under other boot options (GROUP-VARIANT-icount, GROUP-VARIANT-cycles).
  scenarios=(Tests/Bench/"$group"-*icount.scenario Tests/Bench/"$group"-*cycles.scenario)
  # One at a time: plain-TCG cycles are host time, and a second QEMU on the
  # two cores would be in them.
  "$runner" run --kernel "$kernel" --jobs 1 "${scenarios[@]}"
  for scenario in "${scenarios[@]}"; do
    cp "build/scenarios/$(basename "$scenario" .scenario).log" "$transcripts/"
  done
done

if [[ " ${groups[*]} " == *" boot "* ]]; then
  # The wall time from QEMU's start to the first prompt, split into the
  # kernel's part (its own TSC figure) and firmware + loader; the median of
  # three boots each, -m 512M as the Linux figures in PEERS.md.
  log=$transcripts/boot-time.log
  loaded=$(size -A "$kernel" | awk '/^\.(boot|text|rodata|data) /{s+=$2} END{print s}')
  {
    echo "# qemu: Tools/qemu.sh - 1 512M 0"
    echo "kernel image, loaded: value $loaded bytes (1 samples)"
  } >"$log"
  for smp in 1 2 4 8 16 32 64 128; do
    "$runner" boot-time --kernel "$kernel" --smp "$smp" --mem 512M --runs 3 --timeout 120 | tee -a "$log"
  done
  for nodes in 2 4 8; do
    "$runner" boot-time --kernel "$kernel" --smp 8 --mem 512M --numa "$nodes" --runs 3 --timeout 120 |
      tee -a "$log"
  done
fi

only=()
if [ -n "${ONLY:-}" ]; then
  only=(--only "$(
    IFS=,
    echo "${collect_groups[*]}"
  )")
fi
"$collector" collect --catalog Tests/Bench/figures.json --transcripts "$transcripts" \
  --out Tests/Bench "${only[@]}"
Tools/plots.sh Tests/Bench/plots
"$collector" readme --results Tests/Bench/RESULTS.md --readme README.md
echo "make bench: done in $(($(date +%s) - started)) s; Tests/Bench/RESULTS.md, Tests/Bench/results.json, Tests/Bench/plots/, README.md"
