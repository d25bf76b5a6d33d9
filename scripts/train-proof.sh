#!/usr/bin/env bash
# Training proofs through `wick train` (release build). One mode per run:
#
#   cargo build --release --workspace
#   scripts/train-proof.sh pairs       # bikes.mp4, FFmpeg grade targets, 8 frames, 280 s budget,
#                                      # PSNR on 20 held-out frames (model vs untouched input)
#   scripts/train-proof.sh style       # a painting on bikes.mp4 content frames, <= 10 min (CW=200)
#   scripts/train-proof.sh generator   # DCGAN on Fashion-MNIST (apt: dataset-fashion-mnist)
#
# Work files go to $WORK (default /tmp/wick-train-proof); pictures to docs/train/.
# Env: SHARED (default ../shared, i.e. the media checkout beside this one), STEPS, BUDGET.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHARED:-$ROOT/../shared}
WORK=${WORK:-/tmp/wick-train-proof}
WICK=$ROOT/target/release/wick
export WICK_PLUGIN=$ROOT/target/release/libwick.so
CLIP=$SHARED/media/clips/bikes.mp4
GRADE="eq=contrast=1.2:saturation=1.4:gamma=0.85,colorbalance=rs=0.12:gs=0.02:bs=-0.12,unsharp=5:5:1.2"
mkdir -p "$WORK" docs/train
echo "load before: $(uptime)"

# frame N of the clip (0-based) to $2, optionally through filter $3
frame() {
  local vf="select=eq(n\\,$1)"
  [ -n "${3:-}" ] && vf="$vf,$3"
  [ -f "$2" ] || ffmpeg -loglevel error -y -i "$CLIP" -vf "$vf" -vsync 0 -frames:v 1 "$2"
}

case "${1:-}" in
pairs)
  D=$WORK/pairs
  mkdir -p "$D/train_in" "$D/train_tgt" "$D/test_in" "$D/test_tgt" "$D/test_out"
  for n in 5 40 90 120 150 195 215 245; do
    frame $n "$D/train_in/f.$(printf %04d $n).png"
    frame $n "$D/train_tgt/f.$(printf %04d $n).png" "$GRADE"
  done
  for i in $(seq 0 19); do
    n=$((10 + i * 12))
    frame $n "$D/test_in/f.$(printf %04d $n).png"
    frame $n "$D/test_tgt/f.$(printf %04d $n).png" "$GRADE"
  done
  cat > "$D/train.toml" <<EOF
mode = "pairs"
input = "train_in"
target = "train_tgt"
out = "run"
steps = ${STEPS:-1000}
max_seconds = ${BUDGET:-280}
batch = 4
crop = 96
lr = 0.002
seed = 1
holdout = 0
checkpoint_every = 10
sheet_every = 20
resume = false
device = "cpu"
EOF
  /usr/bin/time -f "wall %e s, user %U s" "$WICK" train "$D/train.toml" 2>&1 | tail -4
  for f in "$D"/test_in/*.png; do
    "$WICK" run wick.style-transfer --in "$f" --param model="$D/run/model.safetensors" device=cpu \
      --out "$D/test_out/$(basename "$f")" 2>/dev/null
  done
  python3 - "$D" <<'PY'
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
print(f"held-out frames: {len(base)}; mean PSNR vs target: untouched input {np.mean(base):.2f} dB, "
      f"model {np.mean(ours):.2f} dB, gain {np.mean(ours) - np.mean(base):+.2f} dB")
n = "f.0094.png"
row = np.concatenate([np.asarray(Image.open(f"{d}/{k}/{n}").convert("RGB")) for k in ("test_in", "test_out", "test_tgt")], axis=1)
Image.fromarray(row).save("docs/train/pairs_input_output_target.png")
PY
  tail -1 "$D/run/losses.csv"
  cp "$D/run/loss.png" docs/train/pairs_loss.png
  ;;
style)
  D=$WORK/style
  mkdir -p "$D/content"
  for n in 5 40 90 120 150 195 215 245 30 70; do
    frame $n "$D/content/f.$(printf %04d $n).png"
  done
  cat > "$D/train.toml" <<EOF
mode = "style"
input = "content"
style = "$SHARED/media/paintings/starry_night.jpg"
out = "run"
steps = ${STEPS:-1500}
max_seconds = ${BUDGET:-570}
batch = 2
crop = 96
lr = 0.002
content_weight = ${CW:-200}
seed = 2
holdout = 1
checkpoint_every = 25
sheet_every = 100
resume = false
device = "cpu"
width = 640
height = 272
EOF
  /usr/bin/time -f "wall %e s, user %U s" "$WICK" train "$D/train.toml" --preview "$D/preview.png" 2>&1 | tail -4
  python3 - "$D" "docs/train/style_starry_night_cw${CW:-200}.png" <<'PY'
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
rows = [l.split(",") for l in open(f"{d}/run/losses.csv").read().split("\n")[1:] if l]
style = np.array([float(r[3]) for r in rows])  # step,loss,content,style,tv
k = 10
print(f"{len(style)} steps; style term (training batches): first {k} mean {style[:k].mean():.6f}, "
      f"last {k} mean {style[-k:].mean():.6f}, fall {style[:k].mean() / style[-k:].mean():.2f}x; "
      f"step 1 {style[0]:.6f} -> min {style.min():.6f}")
a = np.asarray(Image.open(f"{d}/content/f.0245.png").convert("RGB"))  # held out (last by name)
b = np.asarray(Image.open(f"{d}/preview.png").convert("RGB"))
Image.fromarray(np.concatenate([a, b], axis=1)).save(sys.argv[2])
PY
  cp "$D/run/loss.png" "docs/train/style_loss_cw${CW:-200}.png"
  ;;
generator)
  D=$WORK/fashion
  if [ ! -d "$D/images" ]; then
    mkdir -p "$D/images"
    python3 - "$D/images" "${IMAGES:-4000}" <<'PY'
import sys, gzip, struct
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
b = gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").read()
magic, count, h, w = struct.unpack(">IIII", b[:16])
assert magic == 2051, "not an idx3-ubyte file"
for i in range(min(n, count)):
    Image.frombytes("L", (w, h), b[16 + i * h * w:16 + (i + 1) * h * w]).save(f"{out}/f{i:05d}.png")
PY
  fi
  cat > "$D/train.toml" <<EOF
mode = "generator"
input = "images"
out = "run"
steps = ${STEPS:-600}
max_seconds = ${BUDGET:-0}
batch = 32
crop = 32
gen_width = 16
latent = 64
seed = 3
checkpoint_every = 100
sheet_every = 200
resume = false
device = "cpu"
width = 256
height = 256
EOF
  /usr/bin/time -f "wall %e s, user %U s" "$WICK" train "$D/train.toml" --preview docs/train/dcgan_fashion_samples.png 2>&1 | tail -4
  cp "$D/run/loss.png" docs/train/dcgan_fashion_losses.png
  "$WICK" run wick.generate --param model="$D/run/model.safetensors" width=128 height=128 seed=5 \
    device=cpu --out "$D/generate.png"
  ;;
*)
  echo "usage: $0 pairs|style|generator" >&2
  exit 2
  ;;
esac
echo "load after: $(uptime)"
