#!/usr/bin/env bash
# Builds Wick's frei0r plugins (release) into target/frei0r/ for FFmpeg, melt (Kdenlive,
# Shotcut) and GStreamer:  ./scripts/build-frei0r.sh && export FREI0R_PATH=$PWD/target/frei0r
set -euo pipefail
cd "$(dirname "$0")/.."
# The same package set as the tests and build-ofx.sh (plus the frei0r crates), so they share one
# build of the dependencies.
cargo build --release -p wick-plugin -p wick-cli -p wick-frei0r-style -p wick-frei0r-generate -p wick-frei0r-interpolate
./target/release/wick frei0r --out target/frei0r
