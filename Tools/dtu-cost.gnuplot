# The README's plot of a DTU message's user-level cost against its payload
# size: instructions on the sender (send) and on the receiver (fetch then
# ack, and receive: the two fused), measured by dtubench under -icount
# shift=0 (Tests/Bench/dtu-icount).
# Input: `data` (columns: payload bytes, send, fetch+ack, receive);
# output: `out`.
set terminal pngcairo size 720,420 font ",11"
set output out
set title "DTU message, user level, no kernel entry (-icount shift=0)"
set xlabel "payload bytes"
set ylabel "instructions per message"
set logscale x 2
set xrange [6:1300]
set yrange [0:*]
set key below horizontal
set grid ytics
plot data using 1:2 with linespoints lw 2 pt 7 title "sender: send", \
     data using 1:3 with linespoints lw 2 pt 5 title "receiver: fetch + ack", \
     data using 1:4 with linespoints lw 2 pt 9 title "receiver: receive (fused)", \
     40 with lines dt 2 lc rgb "gray40" title "aim: 40 a side"
