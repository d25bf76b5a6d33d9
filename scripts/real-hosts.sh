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
#     built without OCIO: its float images hold the PNG's sRGB-encoded values (wick_float_input
#     auto takes them so: Natron with no libOpenColorIO mapped, plugin/src/ofx/untagged.rs).
#     Its graphs: scripts/hosts/natron_graph.py (auto and explicit sRGB), then the shared
#     ../shared/tools/natron_wick_graph.py unchanged (scripts/hosts/shared-graph.sh).
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
  # "ocio": auto again, with an empty stand-in libOpenColorIO.so.1 preloaded, so that Wick sees
  # an OpenColorIO library mapped as in an official Natron build (the reader still does not
  # linearise: this checks the detection, not OpenColorIO).
  stub="$n/stub/libOpenColorIO.so.1"; mkdir -p "$n/stub"
  echo 'int wick_stand_in_for_opencolorio;' | cc -shared -fPIC -x c -o "$stub" - || stub=""
  for flt in auto 2 ${stub:+ocio}; do
    o="$n/float-$flt"; mkdir -p "$o"
    writers=(RoundWriter StyleWriter GenWriter InterpWriter TrainWriter)
    pre="" f=""
    if [ "$flt" = 2 ]; then f=2; fi
    if [ "$flt" = ocio ]; then writers=(StyleWriter GenWriter); pre=$stub; fi
    for w in "${writers[@]}"; do
      set +e
      WICK_IN="$n/in.####.png" WICK_OUT="$o" WICK_FLOAT="$f" OFX_PLUGIN_PATH="$bundles" LD_PRELOAD="$pre" \
        timeout 900 "$natron" --clear-openfx-cache -w "$w" 1-1 scripts/hosts/natron_graph.py >"$o/$w.log" 2>&1
      rc=$?
      set -e
      echo "$w $rc" >>"$o/exit-codes"
    done
  done
  python3 - "$n" <<'PY'
import sys, os, re
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
for flt, label in (("auto", "wick_float_input auto"), ("2", "wick_float_input sRGB"),
                   ("ocio", "wick_float_input auto, a stand-in libOpenColorIO.so.1 preloaded")):
    o = f"{n}/float-{flt}"
    if not os.path.exists(f"{o}/exit-codes"):
        continue
    codes = dict(l.split() for l in open(f"{o}/exit-codes"))
    print(f"-- {label}")
    rows = [("RoundWriter", "round_1.png", "in.0001.png", "Natron read -> write vs the input"),
            ("StyleWriter", "style_1.png", "ref_style.png", "style-transfer vs wick run"),
            ("GenWriter", "gen_1.png", "ref_gen.png", "generate (project size) vs wick run 1920x1080"),
            ("InterpWriter", "interp_1.png", "ref_interp.png", "interpolate frames 1,2 t=0.5 vs wick run"),
            ("TrainWriter", "train_1.png", "in.0001.png", "train (shows its input) vs the input")]
    for w, f, ref, what in rows:
        if w not in codes:
            continue
        log = open(f"{o}/{w}.log", errors="replace").read()
        qt = " QThread-abort" if "QThread" in log else ""
        p = f"{o}/{f}"
        res = cmp(p, f"{n}/{ref}") if os.path.exists(p) else "no output"
        print(f"  {w:13s} exit {codes[w]:>3s}{qt}  {what:46s} {res}")
        if w == "StyleWriter":
            # What auto decided, as Wick told the host's log (Natron prints it without breaks).
            for m in sorted(set(re.findall(r"Wick: Natron[^\n]*?\(wick_float_input auto[^)]*\)", log))):
                print(f"      log: {m}")
PY
  # The issue's held-out graph, unchanged (every param at its default: wick_float_input auto).
  echo "-- ../shared/tools/natron_wick_graph.py (astronaut.png), wick_float_input auto"
  OFX_PLUGIN_PATH="$bundles" WICK="$wick" NATRON="$natron" scripts/hosts/shared-graph.sh "$n/shared" ||
    echo "  (shared graph: failed, see $n/shared)"
else
  echo "(no $natron: skipped)"
fi
