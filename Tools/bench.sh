#!/usr/bin/env bash
# make bench: the figures of the README's performance section.
#   - boot time (QEMU start to the first shell prompt, median of 5) on -smp 1 and 4
#   - the kernel image size
#   - in-kernel frame and heap alloc+free: instructions (-icount shift=0) and TCG cycles
#   - AP bring-up and IPI remote-call round trips, same and other NUMA node
#   - ipcbench: null system call, IPC call+reply (one CPU, two CPUs, two
#     address spaces), capability copy+delete, revoke of 1000 descendants
#   - the LWK instance: null system call there and on a service CPU, the
#     shipped null system call, a burst of shipped calls, control-queue round
#     trips, FWQ noise on an LWK CPU and on a service CPU
#   - DTU endpoints: user-level instructions per message on each side for
#     8/56/248 bytes, the cross-node round trip polling and sleeping, the
#     round trip across the kernel instances both ways, and a send
#     capability imported across them and revoked (plain TCG)
#   - the hosted allocator benchmark (release build)
set -euo pipefail
runner=$1 kernel=$2
echo "kernel image: $(stat -c %s "$kernel") bytes file, $(size -A "$kernel" 2>/dev/null | awk '/^\.(boot|text|rodata|data) /{s+=$2} END{print s}') bytes loaded (text+rodata+data)"
for smp in 1 4 8; do
  echo "boot to prompt, -smp $smp -m 128M:"
  "$runner" boot-time --kernel "$kernel" --smp "$smp" --mem 128M --runs 5
done
"$runner" run --kernel "$kernel" --jobs 1 Tests/Bench >/dev/null
for name in alloc-icount alloc-cycles; do
  echo "in-kernel allocator ($name):"
  grep -a '^bench:' "build/scenarios/$name.log" | tr -d '\r' | sed 's/^/  /'
done
for name in ipi-icount ipi-cycles; do
  echo "AP bring-up (TSC cycles from INIT to reporting in) and remote-call round trips ($name):"
  grep -a -E '^[0-9]+ +[0-9]+ .*(parked|online)|^ipi:' "build/scenarios/$name.log" | tr -d '\r' | sed 's/^/  /'
done
for name in ipc-icount ipc-cycles; do
  echo "ipcbench: system call, IPC and capability figures ($name):"
  grep -a '^ipcbench:' "build/scenarios/$name.log" | tr -d '\r' | sed 's/^/  /'
done
for name in lwk-icount lwk-cycles; do
  echo "LWK instance: system calls, shipping, control round trips, FWQ noise ($name):"
  grep -a -E 'syscallbench:|fwq:|^lwk ping:|^shipping endpoint:|^lwk: messages' "build/scenarios/$name.log" |
    tr -d '\r' | sed -e 's/^tessera> //' -e 's/^/  /'
done
for name in dtu-icount dtu-cycles; do
  echo "DTU endpoints: user-level cost per message, cross-node round trips, kernel IPC beside them ($name):"
  grep -a -E '^dtubench:|^ipcbench: IPC call\+reply, two CPUs|round trips to|dtudeleg: (imported|revoked)' "build/scenarios/$name.log" |
    tr -d '\r' | sed 's/^/  /'
done
# The plot of cost against payload size, from the -icount figures.
mkdir -p build/bench
grep -a -E '^dtubench: [0-9]+-byte payload' build/scenarios/dtu-icount.log | tr -d '\r' |
  sed -E 's/^dtubench: ([0-9]+)-byte payload, one thread: send ([0-9]+), fetch\+ack ([0-9]+), receive ([0-9]+).*/\1 \2 \3 \4/' \
    >build/bench/dtu-cost.dat
gnuplot -e "data='build/bench/dtu-cost.dat'; out='Tests/Bench/dtu-cost.png'" Tools/dtu-cost.gnuplot
echo "plot of DTU cost against payload size: Tests/Bench/dtu-cost.png"
echo "hosted allocator benchmark (swift build -c release):"
swift build -c release --product tessera-bench >/dev/null
.build/release/tessera-bench
