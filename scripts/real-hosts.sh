#!/usr/bin/env bash
# Runs every Wick OpenFX node in the real OpenFX hosts this machine has, and prints what each
# did (results are recorded in docs/hosts.md). Too slow for CI; the in-repo test host
# (tests/ofx_host, `cargo test --test ofx`) is what CI runs.
#
# Hosts, built once by the shared tools (not by this script):
#   - the reference HostSupport example host, traced: /opt/ofx/hostDemoDbg
#     (build_hostdemo.sh <openfx repo>); it renders frames 0 and 1 of 8-bit RGBA PAL images in
#     the first of Filter, Generator, General the plugin has;
#   - NatronRenderer 2.5 (build_natron.sh <mirror root>), with openfx-io's PNG reader/writer
#     built without OCIO: its float images hold the PNG's sRGB-encoded values.
#
# Usage: scripts/real-hosts.sh [--debug] [OUT]   (default OUT: target/real-hosts)
#   --debug   use the debug build (target/debug) instead of a release build
# Env: HOSTDEMO (default /opt/ofx/hostDemoDbg), NATRON (default /opt/natron/bin/NatronRenderer)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
build=()
if [ "${1:-}" = --debug ]; then profile=debug; build=(--debug); shift; fi
out=$(realpath -m "${1:-target/real-hosts}")
hostdemo=${HOSTDEMO:-/opt/ofx/hostDemoDbg}
natron=${NATRON:-/opt/natron/bin/NatronRenderer}
rm -rf "$out"; mkdir -p "$out"

./scripts/build-ofx.sh "${build[@]}" >"$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
t=$(realpath "${CARGO_TARGET_DIR:-target}")
bundles="$t/ofx"
wick="$t/$profile/wick"
export WICK_PLUGIN="$t/$profile/libwick.so"
echo "bundle: $bundles/Wick.ofx.bundle ($profile), $(stat -c %s "$bundles/Wick.ofx.bundle/Contents/Linux-x86-64/Wick.ofx") bytes"

nodes=(org.wick.generate org.wick.style-transfer org.wick.interpolate org.wick.train)

# ----- HostSupport example host -----------------------------------------------------------
if [ -x "$hostdemo" ]; then
  echo; echo "== $hostdemo ($(git -C /opt/openfx-src rev-parse HEAD 2>/dev/null || cat /opt/openfx-src/REVISION 2>/dev/null || echo '?'))"
  for id in "${nodes[@]}"; do
    d="$out/hostdemo/$id"; mkdir -p "$d"
    set +e
    (cd "$d" && OFX_PLUGIN_PATH="$bundles" timeout 900 "$hostdemo" "$id" >log.txt 2>&1)
    rc=$?
    set -e
    ctx=$( (grep -o "instantiating '[^']*' in context [A-Za-z]*" "$d/log.txt" || true) | awk '{print $NF}')
    renders=$(grep -c "OfxImageEffectActionRender(.*->kOfxStatOK" "$d/log.txt" || true)
    failed=$( (grep -o "OfxMessageError wick Wick: [^O]*" "$d/log.txt" || true) | head -1 | cut -c1-160)
    warned=$( (grep -o "OfxMessageWarning wick" "$d/log.txt" || true) | wc -l)
    printf '%-26s exit %-3s context %-32s renders OK %s/2  param defaults used %s  %s\n' \
      "$id" "$rc" "${ctx:-?}" "$renders" "$warned" "${failed:+error: $failed}"
  done
else
  echo "(no $hostdemo: skipped)"
fi

# ----- NatronRenderer 2.5 ------------------------------------------------------------------
if [ -x "$natron" ]; then
  echo; echo "== $("$natron" --version 2>/dev/null | head -1)"
  n="$out/natron"; mkdir -p "$n"
  python3 - "$n" <<'PY'
import sys
from PIL import Image
for k in (1, 2, 3):
    Image.open(f"examples/style-bikes/bikes.{k:04d}.jpg").convert("RGB").save(f"{sys.argv[1]}/in.{k:04d}.png")
PY
  # References from `wick run` (PNG in and out: sRGB-encoded values).
  "$wick" run wick.style-transfer --in "$n/in.0001.png" --out "$n/ref_style.png" >/dev/null
  "$wick" run wick.generate --out "$n/ref_gen.png" --frame 1 --param width=1920 --param height=1080 >/dev/null
  "$wick" run wick.interpolate --in "$n/in.0001.png" "$n/in.0002.png" --out "$n/ref_interp.png" --param t=0.5 >/dev/null
  for flt in auto 2; do
    o="$n/float-$flt"; mkdir -p "$o"
    for w in RoundWriter StyleWriter GenWriter InterpWriter TrainWriter; do
      set +e
      WICK_IN="$n/in.####.png" WICK_OUT="$o" WICK_FLOAT="${flt/auto/}" OFX_PLUGIN_PATH="$bundles" \
        timeout 900 "$natron" --clear-openfx-cache -w "$w" 1-1 scripts/hosts/natron_graph.py >"$o/$w.log" 2>&1
      rc=$?
      set -e
      echo "$w $rc" >>"$o/exit-codes"
    done
  done
  python3 - "$n" <<'PY'
import sys, os
import numpy as np
from PIL import Image
n = sys.argv[1]
def load(p):
    return np.asarray(Image.open(p).convert("RGB")).astype(np.float64)
def cmp(a, b):
    a, b = load(a), load(b)
    if a.shape != b.shape:
        return f"size {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}"
    d = a - b
    return f"max |d| {np.abs(d).max():5.1f}  mean |d| {np.abs(d).mean():6.3f}  mean d {d.mean():+7.3f}"
for flt, label in (("auto", "wick_float_input auto"), ("2", "wick_float_input sRGB")):
    o = f"{n}/float-{flt}"
    codes = dict(l.split() for l in open(f"{o}/exit-codes"))
    print(f"-- {label}")
    rows = [("RoundWriter", "round_1.png", "in.0001.png", "Natron read -> write vs the input"),
            ("StyleWriter", "style_1.png", "ref_style.png", "style-transfer vs wick run"),
            ("GenWriter", "gen_1.png", "ref_gen.png", "generate (project size) vs wick run 1920x1080"),
            ("InterpWriter", "interp_1.png", "ref_interp.png", "interpolate frames 1,2 t=0.5 vs wick run"),
            ("TrainWriter", "train_1.png", "in.0001.png", "train (shows its input) vs the input")]
    for w, f, ref, what in rows:
        log = open(f"{o}/{w}.log", errors="replace").read()
        qt = " QThread-abort" if "QThread" in log else ""
        p = f"{o}/{f}"
        res = cmp(p, f"{n}/{ref}") if os.path.exists(p) else "no output"
        print(f"  {w:13s} exit {codes[w]:>3s}{qt}  {what:46s} {res}")
PY
else
  echo "(no $natron: skipped)"
fi
