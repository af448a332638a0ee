#!/usr/bin/env bash
# Boot an ISO under QEMU with a given topology; the one place that turns
# SMP/MEM/NUMA into QEMU arguments (used by make run/debug and the scenario runner).
#   qemu.sh ISO SMP MEM NUMA [extra QEMU arguments...]
# NUMA=N (N >= 1) splits CPUs and memory evenly over N nodes; NUMA=0 means no -numa.
# The serial console is on stdio (QEMU_SERIAL=mon:stdio multiplexes the QEMU
# monitor in, for interactive use); isa-debug-exit lets a test kernel end QEMU.
set -euo pipefail
iso=$1 smp=$2 mem=$3 numa=$4
shift 4
monitor=(-monitor none)
[ "${QEMU_SERIAL:-stdio}" = stdio ] || monitor=()
args=("${monitor[@]}" -cdrom "$iso" -boot d -m "$mem" -smp "$smp"
  -display none -serial "${QEMU_SERIAL:-stdio}" -no-reboot
  -device isa-debug-exit,iobase=0xf4,iosize=0x04)
if [ "$numa" -gt 0 ]; then
  if [ $((smp % numa)) -ne 0 ]; then
    echo "qemu.sh: SMP=$smp is not divisible by NUMA=$numa" >&2
    exit 2
  fi
  # Memory per node in MiB; MEM may carry an M or G suffix.
  case "$mem" in
  *G | *g) total=$((${mem%?} * 1024)) ;;
  *M | *m) total=${mem%?} ;;
  *) total=$mem ;;
  esac
  if [ $((total % numa)) -ne 0 ]; then
    echo "qemu.sh: MEM=$mem does not split evenly over NUMA=$numa nodes" >&2
    exit 2
  fi
  per=$((total / numa)) cpus=$((smp / numa))
  for ((n = 0; n < numa; n++)); do
    args+=(-object "memory-backend-ram,id=mem$n,size=${per}M"
      -numa "node,nodeid=$n,cpus=$((n * cpus))-$(((n + 1) * cpus - 1)),memdev=mem$n")
  done
fi
exec qemu-system-x86_64 "${args[@]}" "$@"
