#!/usr/bin/env bash
# The main job: build Wick in release and render the bundled 5-second generative short
# (examples/cppn-short.toml) into out/cppn-short/cppn.0001.png ... cppn.0120.png.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release -p wick-plugin -p wick-cli
target/release/wick render examples/cppn-short.toml "$@"
if command -v ffmpeg >/dev/null 2>&1; then
  ffmpeg -loglevel error -y -framerate 24 -i out/cppn-short/cppn.%04d.png -pix_fmt yuv420p out/cppn-short.mp4 \
    && echo "encoded out/cppn-short.mp4"
fi
