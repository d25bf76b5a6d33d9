#!/usr/bin/env bash
# Renders the issue's held-out NatronRenderer graph (../shared/tools/natron_wick_graph.py, run
# unchanged: ReadPNG -> style-transfer / generate / interpolate -> WritePNG, every Wick param at
# its default, `wick_float_input` auto included) and compares each picture with `wick run` of
# the same node on the same PNG (8-bit values: max |d|, mean |d|, mean d). Called by
# scripts/real-hosts.sh; results in docs/hosts.md. Not for CI (it reads ../shared).
#
# Usage: scripts/hosts/shared-graph.sh OUT
# Env: NATRON (NatronRenderer), WICK (the `wick` binary), OFX_PLUGIN_PATH (the folder holding
#      Wick.ofx.bundle), SHARED (the shared folder: ../shared, else /work/shared), GRAPH
#      (default $SHARED/tools/natron_wick_graph.py), SHARED_IN (the input PNG, default
#      $SHARED/media/photos/astronaut.png)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:?usage: shared-graph.sh OUT}")
natron=${NATRON:-/opt/natron/bin/NatronRenderer}
wick=${WICK:?set WICK to the wick binary}
if [ -z "${SHARED:-}" ]; then
  if [ -d ../shared ]; then SHARED=../shared; else SHARED=/work/shared; fi
fi
graph=$(realpath "${GRAPH:-$SHARED/tools/natron_wick_graph.py}")
src=$(realpath "${SHARED_IN:-$SHARED/media/photos/astronaut.png}")
mkdir -p "$out"
for w in StyleWriter GenWriter InterpWriter; do
  set +e
  WICK_IN="$src" WICK_OUT="$out" timeout 900 "$natron" --clear-openfx-cache -w "$w" 1-1 \
    "$graph" >"$out/$w.log" 2>&1
  echo "$w $?" >>"$out/exit-codes"
  set -e
done
# References. generate: at the size Natron rendered (the project's format).
"$wick" run wick.style-transfer --in "$src" --out "$out/ref_style.png" >/dev/null
if [ -f "$out/gen_1.png" ]; then
  read -r gw gh < <(python3 -c "from PIL import Image; print(*Image.open('$out/gen_1.png').size)")
  "$wick" run wick.generate --out "$out/ref_gen.png" --frame 1 --param "width=$gw" \
    --param "height=$gh" >/dev/null
fi
# interpolate of a still: frames f and f+1 are the same picture.
"$wick" run wick.interpolate --in "$src" "$src" --out "$out/ref_interp.png" --param t=0.5 >/dev/null
python3 - "$out" <<'PY'
import os, re, sys
import numpy as np
from PIL import Image
o = sys.argv[1]
codes = dict(l.split() for l in open(f"{o}/exit-codes"))
def load(p):
    return np.asarray(Image.open(p).convert("RGB")).astype(np.float64)
for w, f, ref in (("StyleWriter", "style_1.png", "ref_style.png"),
                  ("GenWriter", "gen_1.png", "ref_gen.png"),
                  ("InterpWriter", "interp_1.png", "ref_interp.png")):
    log = open(f"{o}/{w}.log", errors="replace").read()
    # Natron prints plugin log messages without line breaks: split at each "Wick:".
    notes = sorted(set(re.findall(r"Wick: Natron[^\n]*?\(wick_float_input auto[^)]*\)", log)))
    p, r = f"{o}/{f}", f"{o}/{ref}"
    if not (os.path.exists(p) and os.path.exists(r)):
        res = "no output"
    else:
        a, b = load(p), load(r)
        crop = ""
        if a.shape != b.shape and a.shape[0] >= b.shape[0] and a.shape[1] >= b.shape[1]:
            # The writer writes the project's format (1920x1080) with the picture at its
            # origin (bottom left); the rest is transparent black.
            rest = a.copy()
            rest[a.shape[0] - b.shape[0]:, :b.shape[1]] = 0
            crop = f"(bottom-left {b.shape[1]}x{b.shape[0]} of {a.shape[1]}x{a.shape[0]}, rest max {rest.max():.0f}) "
            a = a[a.shape[0] - b.shape[0]:, :b.shape[1]]
        if a.shape != b.shape:
            res = f"size {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}"
        else:
            d = a - b
            res = (f"{crop}{a.shape[1]}x{a.shape[0]}  max |d| {np.abs(d).max():5.1f}  "
                   f"mean |d| {np.abs(d).mean():6.3f}  mean d {d.mean():+7.3f}")
    print(f"  {w:13s} exit {codes[w]:>3s}  {res}")
    for n in notes:
        print(f"      log: {n}")
PY
