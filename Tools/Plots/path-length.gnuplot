# The path-length plot of bench/RESULTS.md: guest instructions per operation
# under -icount shift=0, Tessera beside its peers (seL4, Linux) as clustered
# bars on a log scale, so that a 147-instruction system call and an
# 18,000-instruction pipe round trip both show.
# Input: `data` (bench/plots/path-length.dat: a quoted operation name, then
# one column per series, named in its "# columns:" line; NaN: no figure);
# output: `out`.
set terminal pngcairo size 960,520 font ",11" noenhanced
set output out
names = system(sprintf("sed -n 's/^# columns: //p' '%s'", data))
columns = words(names)
set datafile missing NaN
set title "Path lengths: Tessera and its peers under QEMU (lower is better)"
set ylabel "guest instructions (-icount shift=0)"
set logscale y
set yrange [10:*]
set format y "%.0f"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics nomirror rotate by 20 right scale 0
set key top left
set grid ytics
plot for [i=2:columns] data using i:xtic(1) title word(names, i)
