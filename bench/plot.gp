# SPDX-License-Identifier: MIT
# Plots of hpool-bench's CSV (scenario,impl,mode,param,median,min,max,unit).
#   gnuplot -e "csv='bench/results/latest.csv'; outdir='bench/results'" bench/plot.gp
# writes outdir/chunk.png   scenario 1: ns per item against chunk size
#        outdir/speedup.png scenario 3: speedup against task size
#        outdir/skew.png    scenario 7: wall time / ideal, a bar per row
#        outdir/nested.png  scenario 8: speedup over serial, a bar per row
# each only when its scenario is in `only` (hpool-bench passes its --only).
# hpool-bench runs it after each run (unless --no-plot).

if (!exists("csv")) csv = 'bench/results/latest.csv'
if (!exists("outdir")) outdir = 'bench/results'
if (!exists("only")) only = '12345678'
ran(n) = strstrt(only, n) > 0

set datafile separator ','
set terminal pngcairo size 960,600 font 'Sans,10' noenhanced
set key outside right top
set grid xtics ytics mytics
set logscale y
set style data linespoints
set bars 0.5

# Lines are drawn row by row; a row of another series is skipped, not
# joined, because its x and y are NaN ("set datafile missing NaN").
set datafile missing NaN
sel(s, i, m) = (strcol(1) eq s && strcol(2) eq i && strcol(3) eq m)

# ---- 1: per-item cost against chunk size --------------------------------
AUTO = 4096.0
chunkx(p) = (p eq 'chunk=auto') ? AUTO : strstrt('0123456789', p[7:7]) > 0 ? real(p[7:]) : NaN
cx(s, i, m) = sel(s, i, m) ? chunkx(strcol(4)) : NaN
cy(s, i, m, c) = sel(s, i, m) ? column(c) : NaN

if (ran('1')) {
set output outdir.'/chunk.png'
set title "1. empty tasks: cost per item against chunk size (median, bars min-max; 'auto' = each one's automatic chunking)"
set xlabel 'items per chunk'
set ylabel 'ns per item (log)'
set logscale x 2
set xrange [0.7:6000]
set xtics ('1' 1, '4' 4, '16' 16, '64' 64, '256' 256, '1024' 1024, 'auto' AUTO)
plot \
  csv skip 1 using (cx('1-empty','hpool','thread')):(cy('1-empty','hpool','thread',5)):(cy('1-empty','hpool','thread',6)):(cy('1-empty','hpool','thread',7)) with yerrorlines lw 2 pt 7 title 'hpool thread', \
  csv skip 1 using (cx('1-empty','hpool','process')):(cy('1-empty','hpool','process',5)):(cy('1-empty','hpool','process',6)):(cy('1-empty','hpool','process',7)) with yerrorlines lw 2 pt 5 title 'hpool process', \
  csv skip 1 using (cx('1-empty','omp-dynamic','thread')):(cy('1-empty','omp-dynamic','thread',5)):(cy('1-empty','omp-dynamic','thread',6)):(cy('1-empty','omp-dynamic','thread',7)) with yerrorlines lw 2 pt 9 title 'OpenMP dynamic,chunk', \
  csv skip 1 using (cx('1-empty','mp.Pool','process')):(cy('1-empty','mp.Pool','process',5)) with points pt 4 title 'mp.Pool (Python)', \
  csv skip 1 using (cx('1-empty','mp.dummy.Pool','thread')):(cy('1-empty','mp.dummy.Pool','thread',5)) with points pt 6 title 'mp.dummy.Pool (Python)', \
  csv skip 1 using (cx('1-empty','ProcessPoolExecutor','process')):(cy('1-empty','ProcessPoolExecutor','process',5)) with points pt 8 title 'ProcessPoolExecutor (Python)', \
  csv skip 1 using (cx('1-empty','joblib','process')):(cy('1-empty','joblib','process',5)) with points pt 10 title 'joblib (Python)', \
  csv skip 1 using (cx('1-empty','tbb-simple-1','thread')):(cy('1-empty','tbb-simple-1','thread',5)):(cy('1-empty','tbb-simple-1','thread',6)):(cy('1-empty','tbb-simple-1','thread',7)) with yerrorbars lw 2 pt 13 ps 1.5 lc 'black' title 'oneTBB simple_partitioner,1', \
  csv skip 1 using (cx('1-empty','tbb-auto','thread')):(cy('1-empty','tbb-auto','thread',5)):(cy('1-empty','tbb-auto','thread',6)):(cy('1-empty','tbb-auto','thread',7)) with yerrorbars lw 2 pt 15 ps 1.5 lc 'dark-orange' title 'oneTBB auto_partitioner', \
  csv skip 1 using (AUTO):(sel('1-empty','serial','serial') ? column(5) : NaN) with points pt 3 ps 2 title 'serial C loop (at auto)'
}

# ---- 3: speedup against task size ----------------------------------------
unset logscale y
set logscale x 10
set xrange [0.7:150]
set yrange [0:*]
set xtics ('1 us' 1, '10 us' 10, '100 us' 100)
tx(p) = real(p[6:strlen(p)-2])
sx(s, i, m) = sel(s, i, m) ? tx(strcol(4)) : NaN
sy(s, i, m, c) = sel(s, i, m) ? column(c) : NaN

if (ran('3')) {
set output outdir.'/speedup.png'
set title "3. fine-grained compute: speedup over a serial loop against task size (median, bars min-max)"
set xlabel 'task size'
set ylabel 'speedup (x)'
plot \
  csv skip 1 using (sx('3-compute','hpool','thread')):(sy('3-compute','hpool','thread',5)):(sy('3-compute','hpool','thread',6)):(sy('3-compute','hpool','thread',7)) with yerrorlines lw 2 pt 7 title 'hpool thread (auto)', \
  csv skip 1 using (sx('3-compute','hpool','process')):(sy('3-compute','hpool','process',5)):(sy('3-compute','hpool','process',6)):(sy('3-compute','hpool','process',7)) with yerrorlines lw 2 pt 5 title 'hpool process (auto)', \
  csv skip 1 using (sx('3-compute','omp-dynamic-1','thread')):(sy('3-compute','omp-dynamic-1','thread',5)):(sy('3-compute','omp-dynamic-1','thread',6)):(sy('3-compute','omp-dynamic-1','thread',7)) with yerrorlines lw 2 pt 9 title 'OpenMP dynamic,1', \
  csv skip 1 using (sx('3-compute','omp-dynamic-C','thread')):(sy('3-compute','omp-dynamic-C','thread',5)) lw 2 pt 11 title 'OpenMP dynamic,C', \
  csv skip 1 using (sx('3-compute','mp.Pool','process')):(sy('3-compute','mp.Pool','process',5)) with linespoints dt 2 pt 4 title 'mp.Pool (Python)', \
  csv skip 1 using (sx('3-compute','mp.dummy.Pool','thread')):(sy('3-compute','mp.dummy.Pool','thread',5)) with linespoints dt 2 pt 6 title 'mp.dummy.Pool (Python)', \
  csv skip 1 using (sx('3-compute','ProcessPoolExecutor','process')):(sy('3-compute','ProcessPoolExecutor','process',5)) with linespoints dt 2 pt 8 title 'ProcessPoolExecutor (Python)', \
  csv skip 1 using (sx('3-compute','joblib','process')):(sy('3-compute','joblib','process',5)) with linespoints dt 2 pt 10 title 'joblib (Python)', \
  1 with lines lc 'gray' dt 3 title 'serial'
}

# ---- 7 and 8: a bar per row of one scenario ------------------------------
# The scenario's rows (grep), one bar each in CSV order; a row that could
# not be measured (median nan) keeps its label, marked n/a, and no bar.
unset logscale x
unset logscale y
set xrange [-0.7:*]
set yrange [0:*]
unset xtics
set xtics rotate by 30 right nomirror
set bmargin 9
set key inside right top
set style fill solid 0.5 border -1
set boxwidth 0.6
rows(s) = '< grep "^'.s.'," '."'".csv."'"
lab = 'strcol(2)." ".strcol(3).(strcol(5) eq "nan" ? " (n/a)" : "")'

if (ran('7')) {
set output outdir.'/skew.png'
set title "7. skewed tasks: 1 long sleep then 99 of a hundredth of it, 2 workers: wall time / ideal (median, bars min-max)"
set xlabel ''
set ylabel 'wall time / max(longest, total / workers)'
plot \
  rows('7-skew') using 0:5:xtic(@lab) with boxes lc 'steelblue' notitle, \
  '' using 0:5:6:7 with yerrorbars lc 'black' pt -1 notitle, \
  1 with lines lc 'gray' dt 3 title 'ideal', \
  1.1 with lines lc 'red' dt 2 title 'target (1.1)'
}

if (ran('8')) {
set output outdir.'/nested.png'
set title "8. nested tasks: recursive fib, each task submits two and waits: speedup over serial (median, bars min-max)"
set xlabel ''
set ylabel 'speedup (x)'
plot \
  rows('8-nested').' | grep ",x$"' using 0:5:xtic(@lab) with boxes lc 'seagreen' notitle, \
  '' using 0:5:6:7 with yerrorbars lc 'black' pt -1 notitle, \
  1 with lines lc 'gray' dt 3 title 'serial'
}
