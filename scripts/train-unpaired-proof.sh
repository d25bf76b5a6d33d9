#!/usr/bin/env bash
# Proof that `wick train` mode=unpaired learns a look without pairs (issue #17), through the CLI:
#
#   scripts/train-unpaired-proof.sh grade      # A = frames of a clip, B = OTHER frames of the same
#                                              # clip through an FFmpeg colour grade; held-back A
#                                              # frames must come >= 3 dB closer to their true grade
#   scripts/train-unpaired-proof.sh paintings  # A = clip frames, B = paintings from ../shared;
#                                              # sheet docs/train/unpaired_paintings.png
#
# Frame n of the clip goes to A when n % 4 == 0, to B (graded) when n % 4 == 2, to the test set
# (input + its true grade) when n % 4 == 1: no frame of A has its graded twin in B.
# Env: CLIP (default bikes), BUDGET (max_seconds, default 600), WICK (default the release build),
# SHARED (default ../shared), WORK (default /tmp/wick-unpaired-proof), SIDE (frame width, 320),
# GRADE (the FFmpeg filter chain of the grade; default below), EXTRA (more config lines).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHARED:-$ROOT/../shared}
WORK=${WORK:-/tmp/wick-unpaired-proof}
WICK=${WICK:-$ROOT/target/release/wick}
export WICK_PLUGIN=${WICK_PLUGIN:-$(dirname "$WICK")/libwick.so}
CLIP_NAME=${CLIP:-bikes}
CLIP=$SHARED/media/clips/$CLIP_NAME.mp4
SIDE=${SIDE:-320}
BUDGET=${BUDGET:-600}
GRADE=${GRADE:-"eq=contrast=1.15:saturation=1.5:gamma=0.85,colorbalance=rs=0.15:gs=0.03:bs=-0.15"}
TAG=$(printf %s "$GRADE" | md5sum | cut -c1-6)
D=$WORK/${1:-grade}-$CLIP_NAME-$TAG
mkdir -p "$D"/{a,b,test_in,test_tgt,test_out}
echo "load before: $(uptime)"

frames() { # all frames of the clip, scaled, to $1/f.%04d.png (optionally through filter $2)
  local vf="scale=$SIDE:-2"
  [ -n "${2:-}" ] && vf="$vf,$2"
  mkdir -p "$1"
  [ -f "$1/f.0001.png" ] || ffmpeg -loglevel error -y -i "$CLIP" -vf "$vf" -vsync 0 -start_number 0 "$1/f.%04d.png"
}
frames "$WORK/src-$CLIP_NAME"
frames "$WORK/graded-$CLIP_NAME-$TAG" "$GRADE"
n=$(ls "$WORK/src-$CLIP_NAME" | wc -l)
for ((i = 0; i < n; i++)); do
  f=f.$(printf %04d $i).png
  case $((i % 4)) in
    0) cp -n "$WORK/src-$CLIP_NAME/$f" "$D/a/" ;;
    2) [ "${1:-grade}" = grade ] && cp -n "$WORK/graded-$CLIP_NAME-$TAG/$f" "$D/b/" ;;
    1) if [ $((i % 12)) = 1 ]; then
         cp -n "$WORK/src-$CLIP_NAME/$f" "$D/test_in/"; cp -n "$WORK/graded-$CLIP_NAME-$TAG/$f" "$D/test_tgt/"
       fi ;;
  esac
done
if [ "${1:-grade}" = paintings ]; then
  for p in "$SHARED"/media/paintings/*; do
    ffmpeg -loglevel error -y -i "$p" -vf "scale=480:-2" "$D/b/$(basename "${p%.*}").png"
  done
fi
echo "A: $(ls "$D/a" | wc -l) frames, B: $(ls "$D/b" | wc -l) images, test: $(ls "$D/test_in" | wc -l) frames"
cat > "$D/train.toml" <<EOF
mode = "unpaired"
input = "a"
target = "b"
out = "run"
steps = 1000000
max_seconds = $BUDGET
holdout = 0
checkpoint_every = 100
sheet_every = 200
resume = false
${EXTRA:-}
device = "cpu"
EOF
/usr/bin/time -f "wall %e s, user %U s" "$WICK" train "$D/train.toml" 2>&1 | tail -3
echo "load after: $(uptime)"
grep -c . "$D/run/losses.csv" | awk '{print "steps:", $1 - 1}'
for f in "$D"/test_in/*.png; do
  "$WICK" run wick.style-transfer --in "$f" --param model="$D/run/model.safetensors" device=cpu \
    --out "$D/test_out/$(basename "$f")" 2>/dev/null
done
[ "${1:-grade}" = grade ] && python3 - "$D" <<'PY'
import sys, glob, os, numpy as np
from PIL import Image
d = sys.argv[1]
def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))
base, ours = [], []
for f in sorted(glob.glob(f"{d}/test_in/*.png")):
    n = os.path.basename(f)
    x, y, o = (np.asarray(Image.open(f"{d}/{k}/{n}").convert("RGB")) for k in ("test_in", "test_tgt", "test_out"))
    base.append(psnr(x, y)); ours.append(psnr(o, y))
print(f"held-back A frames: {len(base)}; mean PSNR vs their true grade: untouched {np.mean(base):.2f} dB, "
      f"model {np.mean(ours):.2f} dB, gain {np.mean(ours) - np.mean(base):+.2f} dB "
      f"(worst frame {min(o - b for o, b in zip(ours, base)):+.2f} dB)")
PY
ls "$D"/run/sheet_*.png | tail -1
if [ "${1:-grade}" = paintings ]; then
  python3 - "$D" "$ROOT/docs/train/unpaired_paintings.png" <<'PY'
import sys, glob, os
from PIL import Image
d, out = sys.argv[1], sys.argv[2]
tests = sorted(glob.glob(f"{d}/test_in/*.png"))[::7][:3]
rows = [(Image.open(f).convert("RGB"), Image.open(f"{d}/test_out/{os.path.basename(f)}").convert("RGB")) for f in tests]
w, h = rows[0][0].size
paints = [Image.open(p).convert("RGB") for p in sorted(glob.glob(f"{d}/b/*.png"))]
th = h // 2
thumbs = [p.resize((max(1, p.width * th // p.height), th)) for p in paints]
tw = sum(t.width for t in thumbs)
W = max(2 * w, tw)
sheet = Image.new("RGB", (W, h * len(rows) + th), "white")
x = 0
for t in thumbs:
    sheet.paste(t, (x, 0)); x += t.width
for i, (a, b) in enumerate(rows):
    sheet.paste(a, (0, th + i * h)); sheet.paste(b, (w, th + i * h))
sheet.save(out)
print("sheet ->", out, "(top: domain B paintings; rows: held-back frame | model)")
PY
fi
