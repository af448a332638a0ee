# The FWQ (fixed work quanta) traces: the time of every quantum in sample
# order, on an LWK CPU (top) and on a service CPU (bottom), so that the
# noise (the ticks, other CPUs' work under icount) shows as points above the
# floor.
# Input: `lwk` and `service` (bench/plots/fwq.lwk.dat, fwq.service.dat:
# index, value; either may be '' when not measured); output: `out`.
set terminal pngcairo size 960,620 font ",10" noenhanced
set output out
set multiplot layout 2,1 title "FWQ: ticks per quantum (guest instructions under -icount shift=0)"
set xlabel "point: the largest of 100 consecutive quanta"
set ylabel "ticks"
set grid ytics
unset key
if (strlen(lwk) > 0) {
  set title "LWK CPU"
  plot lwk using 1:2 with points pt 7 ps 0.3 lc rgb "#1f77b4"
} else {
  set title "LWK CPU: not measured"
  plot [0:1] [0:1] NaN
}
if (strlen(service) > 0) {
  set title "service CPU"
  plot service using 1:2 with points pt 7 ps 0.3 lc rgb "#d62728"
} else {
  set title "service CPU: not measured"
  plot [0:1] [0:1] NaN
}
unset multiplot
