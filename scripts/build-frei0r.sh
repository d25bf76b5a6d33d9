#!/usr/bin/env bash
# Builds Wick's frei0r plugins (release) into target/frei0r/ for FFmpeg, melt (Kdenlive,
# Shotcut) and GStreamer:  ./scripts/build-frei0r.sh && export FREI0R_PATH=$PWD/target/frei0r
# The libraries are stripped (scripts/split-debug.sh); their symbols and debug info go to
# target/frei0r-debug/<name>.so.debug, for crash reports (`--keep-debug`: no split).
# (target/ is $CARGO_TARGET_DIR when set.)
set -euo pipefail
cd "$(dirname "$0")/.."
split=1
[ "${1:-}" = --keep-debug ] && split=0
# The same package set as the tests and build-ofx.sh (plus the frei0r crates), so they share one
# build of the dependencies.
cargo build --release -p wick-plugin -p wick-cli -p wick-frei0r-style -p wick-frei0r-generate -p wick-frei0r-interpolate
t="${CARGO_TARGET_DIR:-target}"
"$t/release/wick" frei0r --out "$t/frei0r"
rm -rf "$t/frei0r-debug"
if [ "$split" = 1 ]; then
    for lib in "$t"/frei0r/*.so; do
        ./scripts/split-debug.sh "$lib" "$t/frei0r-debug/$(basename "$lib").debug"
    done
fi
ls -l "$t"/frei0r/*.so
