#!/usr/bin/env bash
# Farm benchmarks (BENCHMARKS.md "Farm"), each pair in one run, one after the other, with the
# load average printed:
#   1. the bundled example shot, frames 1-N: one `wick render` process vs a Slurm job array of 2
#      chunks (`wick submit slurm --chunk N/2 --wait`, submit to done), frames compared byte for
#      byte;
#   2. `wick train` (pairs on the bundled bikes frames): one process vs `mpirun -np 2` with the
#      same global batch: steps/s and the loss curve of each.
# Uses the release build (cargo build --release -p wick-plugin -p wick-cli;
# scripts/farm/mpi-build.sh) and a running Slurm (scripts/farm/slurm-up.sh).
#
#   tools/bench_farm.sh [FRAMES=48] [STEPS=30]
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES=${1:-48}
STEPS=${2:-30}
BIN=$PWD/target/release
export WICK_PLUGIN=$BIN/libwick.so WICK_MPI_LIB=$BIN/libwick_mpi.so
for f in "$BIN/wick" "$WICK_PLUGIN" "$WICK_MPI_LIB"; do
  [ -f "$f" ] || { echo "missing $f: build first (see the header)" >&2; exit 1; }
done
W=$(mktemp -d /tmp/wick-bench-farm.XXXXXX)
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2-$1:.1f}')"; }

echo "== render: examples/cppn-short.toml frames 1-$FRAMES (640x360) on $(nproc) cores; load $(load)"
sed -e 's|"../out/cppn-short/cppn.####.png"|"out/shot/f.####.png"|' examples/cppn-short.toml >"$W/shot.toml"
t0=$(now)
"$BIN/wick" render "$W/shot.toml" --frames "1-$FRAMES" 2>/dev/null
t1=$(now)
mv "$W/out/shot" "$W/one"
half=$(( (FRAMES + 1) / 2 ))
t2=$(now)
"$BIN/wick" submit slurm "$W/shot.toml" --frames "1-$FRAMES" --chunk "$half" --wait --poll 0.5 2>"$W/submit.log"
t3=$(now)
same=$(cd "$W/one" && for f in *.png; do cmp -s "$f" "../out/shot/$f" || echo "$f"; done | wc -l)
one=$(secs "$t0" "$t1"); arr=$(secs "$t2" "$t3")
echo "1 process: $one s; Slurm array of 2 chunks: $arr s (submit to done); ratio $(python3 -c "print(f'{$one/$arr:.2f}')")x; frames differing: $same of $FRAMES; load $(load)"

echo "== train: pairs, crop 64, global batch 8, $STEPS steps; load $(load)"
cat >"$W/train.toml" <<CFG
mode = "pairs"
input = "$PWD/examples/style-bikes/bikes.%04d.jpg"
target = "$PWD/examples/train-pairs/graded.%04d.jpg"
crop = 64
batch = 8
lr = 0.003
seed = 1
steps = $STEPS
checkpoint_every = 1000
sheet_every = 0
device = "cpu"
width = 160
height = 68
CFG
t0=$(now)
"$BIN/wick" train "$W/train.toml" --param "out=$W/t1" distributed=off 2>/dev/null
t1=$(now)
mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none \
  -np 2 -x WICK_PLUGIN -x WICK_MPI_LIB "$BIN/wick" train "$W/train.toml" --param "out=$W/t2" 2>/dev/null
t2=$(now)
python3 - "$W" "$STEPS" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" <<'PY'
import sys
w, steps, a, b = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
def losses(d):
    return [float(l.split(',')[1]) for l in open(f"{w}/{d}/losses.csv").read().split('\n')[1:] if l]
l1, l2 = losses('t1'), losses('t2')
print(f"1 process: {a:.1f} s ({steps/a:.2f} steps/s); 2 ranks: {b:.1f} s ({steps/b:.2f} steps/s); ratio {a/b:.2f}x (whole runs, start-up included)")
marks = sorted({1, 2, 5, 10, steps // 2, steps})
print("step  loss(1 process)  loss(2 ranks)  rel diff")
for s in marks:
    x, y = l1[s-1], l2[s-1]
    print(f"{s:4d}  {x:.6f}        {y:.6f}      {abs(x-y)/x:.1e}")
print(f"max rel loss diff over {steps} steps: {max(abs(x-y)/x for x, y in zip(l1, l2)):.1e}")
PY
echo "load $(load); files in $W"
