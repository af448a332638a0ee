#!/usr/bin/env bash
# make bench: the figures of the README's performance section.
#   boot time (QEMU start to the first shell prompt, median of 5) on -smp 1 and 4,
#   and the kernel image size.
set -euo pipefail
runner=$1 kernel=$2
echo "kernel image: $(stat -c %s "$kernel") bytes file, $(size -A "$kernel" 2>/dev/null | awk '/^\.(boot|text|rodata|data) /{s+=$2} END{print s}') bytes loaded (text+rodata+data)"
for smp in 1 4; do
  echo "boot to prompt, -smp $smp -m 128M:"
  "$runner" boot-time --kernel "$kernel" --smp "$smp" --mem 128M --runs 5
done
