# The plot of a DTU message's user-level cost against its payload size:
# instructions on the sender (send) and on the receiver (fetch then ack, and
# receive: the two fused), measured by dtubench under -icount shift=0
# (Tests/Bench/dtu-icount), with the aim of 40 a side.
# Input: `data` (bench/plots/dtu-cost.dat: payload bytes, then one column
# per series, e.g. send, fetch+ack, receive, named in its "# columns:" line;
# NaN: no figure); output: `out`.
set terminal pngcairo size 840,420 font ",11" noenhanced
set output out
names = system(sprintf("sed -n 's/^# columns: //p' '%s'", data))
columns = words(names)
set datafile missing NaN
set title "DTU message, user level, no kernel entry (-icount shift=0)"
set xlabel "payload bytes"
set ylabel "instructions per message"
set logscale x 2
set xrange [6:1300]
set yrange [0:*]
set key outside right top vertical
set grid ytics
plot for [i=2:columns] data using 1:i with linespoints lw 2 pt (3 + 2 * i) title word(names, i), \
     40 with lines dt 2 lc rgb "gray40" title "aim: 40 a side"
