#!/usr/bin/env bash
# Draw the benchmark plots: every script in Tools/Plots whose data the
# collector wrote (tessera-bench-collect collect) is run with gnuplot.
#   Tools/plots.sh OUTDIR     (e.g. bench/plots)
# reads OUTDIR/<name>.dat and writes OUTDIR/<name>.png; fwq-trace reads the
# trace files OUTDIR/fwq.lwk.dat and OUTDIR/fwq.service.dat instead (the
# catalog's trace ids). Scripts without data are skipped.
set -euo pipefail
out=${1:?usage: Tools/plots.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
command -v gnuplot >/dev/null || {
  echo "plots.sh: gnuplot is not installed" >&2
  exit 1
}
for script in "$here"/Plots/*.gnuplot; do
  name=$(basename "$script" .gnuplot)
  png=$out/$name.png
  if [ "$name" = fwq-trace ]; then
    lwk=$out/fwq.lwk.dat service=$out/fwq.service.dat
    [ -f "$lwk" ] || lwk=
    [ -f "$service" ] || service=
    [ -n "$lwk$service" ] || continue
    gnuplot -e "lwk='$lwk'; service='$service'; out='$png'" "$script"
  else
    data=$out/$name.dat
    [ -f "$data" ] || continue
    # A subset run (make bench ONLY=...) may leave a plot with nothing
    # measured yet: every value cell NaN. gnuplot refuses those.
    if ! awk '!/^#/ { for (i = 2; i <= NF; i++) if ($i != "NaN") found = 1 } END { exit !found }' "$data"; then
      echo "plot: $name skipped, nothing measured for it yet"
      continue
    fi
    gnuplot -e "data='$data'; out='$png'" "$script"
  fi
  echo "plot: $png"
done
