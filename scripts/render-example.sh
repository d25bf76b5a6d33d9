#!/usr/bin/env bash
# The main job: build Wick (release) and turn the bundled 4-second street clip
# (examples/clips/bikes.mp4, 640x272, 25 fps, 100 frames with one scene cut) into a stylised short:
#
#   style transfer (a blend of two built-in styles, temporally stabilised: temporal=1)
#   -> 2x frame rate with wick.interpolate
#   -> out/stylized-short.mp4 (H.264, 50 fps, 199 frames)
#   +  out/stylized-short-styles.png (contact sheet of the styles used)
#   +  out/stylized-short-strip.png  (input | stylised | in-between | next stylised)
#
# All of it is one `wick stylize` command (the graph renderer; --save-graph keeps the graph as a
# `wick render` file). Extra arguments go to it (e.g. --frames 1-49 for a quick look).
#
#   ./scripts/render-example.sh cppn    # the second example: the generative CPPN short
#                                       # (examples/cppn-short.toml -> out/cppn-short.mp4)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release -p wick-plugin -p wick-cli
wick=target/release/wick
start=$(date +%s.%N)
if [ "${1:-}" = cppn ]; then
  shift
  "$wick" render examples/cppn-short.toml "$@"
  ffmpeg -loglevel error -y -framerate 24 -i out/cppn-short/cppn.%04d.png -pix_fmt yuv420p \
    out/cppn-short.mp4 && echo "encoded out/cppn-short.mp4"
else
  "$wick" stylize examples/clips/bikes.mp4 out/stylized-short.mp4 \
    --style 5:0.5,19:0.5 --temporal 1 --retime 2 \
    --sheet out/stylized-short-styles.png --strip out/stylized-short-strip.png --strip-frame 45 \
    --save-graph out/stylized-short.toml "$@"
fi
end=$(date +%s.%N)
echo "main job: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s after the build" \
  "(load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
