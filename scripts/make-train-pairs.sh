#!/usr/bin/env bash
# Makes the targets of examples/train-pairs.toml: each bundled bikes frame through a real FFmpeg
# colour grade + sharpen chain (the same chain as the pairs training proof).
#
#   scripts/make-train-pairs.sh      # writes examples/train-pairs/graded.0001.jpg ... 0012
set -euo pipefail
cd "$(dirname "$0")/.."
FILTER="eq=contrast=1.2:saturation=1.4:gamma=0.85,colorbalance=rs=0.12:gs=0.02:bs=-0.12,unsharp=5:5:1.2"
mkdir -p examples/train-pairs
ffmpeg -loglevel error -y -start_number 1 -i examples/style-bikes/bikes.%04d.jpg \
  -vf "$FILTER" -q:v 2 -start_number 1 examples/train-pairs/graded.%04d.jpg
ls examples/train-pairs
