# The boot-time plot against the vCPU count: seconds from QEMU's start to
# the shell prompt, split into firmware+loader (SeaBIOS, GRUB) and the
# kernel (ACPI, PIT calibration, starting every AP), plus their total, on a
# log2 vCPU axis (1 to 128).
# Input: `data` (bench/plots/boot-cpus.dat: vCPUs, then one column per
# series, named in its "# columns:" line; NaN: no figure); output: `out`.
set terminal pngcairo size 900,460 font ",11" noenhanced
set output out
names = system(sprintf("sed -n 's/^# columns: //p' '%s'", data))
columns = words(names)
set datafile missing NaN
set title "Boot to the shell prompt against vCPUs (plain TCG, median)"
set xlabel "vCPUs (-smp)"
set ylabel "seconds"
set logscale x 2
set xrange [0.8:160]
set xtics (1, 2, 4, 8, 16, 32, 64, 128)
set yrange [0:*]
set key outside right top vertical
set grid ytics
plot for [i=2:columns] data using 1:i with linespoints lw 2 pt (4 + 2 * i) title word(names, i), \
     data using 1:(sum [i=2:columns] column(i)) with linespoints lw 2 dt 2 pt 7 lc rgb "black" title "total"
