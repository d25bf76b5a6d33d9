"""Temporal stability of wick.style-transfer: per-frame vs `temporal`, on any clip.

For each clip: take FRAMES frames from FIRST (ffmpeg, optionally scaled), stylise them with
`wick render` twice in the same run, one after the other -- `temporal=0` (per-frame, as before
#15) and `temporal=T` (default 1) -- with the same model and style, then print per clip:

  E_warp      the short-term warping error of Lai et al. 2018 ("Learning Blind Video Temporal
              Consistency"): mean over consecutive pairs (t, t+1) of the occlusion-masked mean
              squared difference (RGB in 0..1) between output t and output t+1 warped back to t
              by the optical flow of the *input* frames. The flow is OpenCV's DIS (not Wick's);
              occlusions are the forward-backward check plus motion boundaries (Ruder et al.
              2016). Pairs across a scene cut (found on the input, see `cut_score`) are skipped.
              Printed for the input itself, per-frame output, temporal output, and the ratio
              temporal / per-frame (the goal: <= 0.3).
  grad        gradient energy ratio temporal / per-frame (mean squared finite differences of
              the output, RGB 0..1): how much texture the stabilisation kept (goal 0.8-1.25).
  drift       colour drift: the largest difference, over frames and channels, between the
              mean colour of the temporal and the per-frame output, in 1/255 (goal < 6).
  ms/frame    wall time of each `wick render` divided by the frame count (model load and,
              for temporal, the first frame's history included), and the ratio (goal <= 1.5),
              with the load average of the machine before and after; and the same for the
              CPU time (user + system) of each render, steadier than wall time on a shared
              machine. `--repeat N` renders the pair N times, alternating, and reports the
              medians (times and per-pair ratios; the frames of every repeat must be equal).
              Also the steady state: the mean time of frames from `--steady-from` (13) on as
              `wick render` logs them, after the flow network has loaded and the window of 11
              past frames has filled (a long shot's per-frame cost).

    cargo build --release -p wick-plugin -p wick-cli    # target/release/wick + libwick.so
    pip install numpy pillow opencv-python-headless
    python3 tools/bench_temporal.py ../shared/media/clips/cup.mp4 --frames 24
    python3 tools/bench_temporal.py ../shared/media/clips/*.mp4 --frames 24 --width 480 \
        --param style=3 --markdown

`--strip PNG` also writes a side-by-side picture of the first clip (rows: input, per-frame,
temporal, and each output's change from the previous frame x4; columns: `--strip-frames`,
cropped to `--strip-width`), as docs/temporal-strip.png:

    python3 tools/bench_temporal.py ../shared/media/clips/cup.mp4 --first 40 --frames 12 \
        --width 320 --param style=3 --strip docs/temporal-strip.png --strip-frames 6,7,8,9 \
        --strip-width 200

`--keep DIR` keeps the frames.
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(p):
    return np.asarray(Image.open(p).convert("RGB"), dtype=np.float64) / 255.0


def cut_score(a, b):
    """The score of Wick's rife::cuts (colour histograms x shift-tolerant thumbnails), 0..1."""
    hist = 0.0
    for c in range(3):
        ha = np.histogram(np.clip(a[..., c], 0, 1), 16, (0, 1))[0]
        hb = np.histogram(np.clip(b[..., c], 0, 1), 16, (0, 1))[0]
        hist += np.abs(ha - hb).sum() / (2 * a[..., c].size)
    hist /= 3

    def thumb(x):
        h, w = x.shape[:2]
        ys = [(i * h // 48, max((i + 1) * h // 48, i * h // 48 + 1)) for i in range(48)]
        xs = [(j * w // 48, max((j + 1) * w // 48, j * w // 48 + 1)) for j in range(48)]
        return np.array([[x[y0:y1, x0:x1].mean((0, 1)) for x0, x1 in xs] for y0, y1 in ys])

    ta, tb = thumb(a), thumb(b)
    best = min(np.abs(ta[4:44, 4:44] - tb[dy:dy + 40, dx:dx + 40]).mean()
               for dy in range(9) for dx in range(9))
    return float(np.sqrt(hist * best))


def gray8(x):
    return cv2.cvtColor(np.clip(np.round(x * 255), 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


class Flows:
    """DIS flows and occlusion masks of consecutive input frames (computed once per clip)."""

    def __init__(self, frames):
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.pairs = []
        h, w = frames[0].shape[:2]
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        for a, b in zip(frames, frames[1:]):
            ga, gb = gray8(a), gray8(b)
            fw = dis.calc(ga, gb, None)  # t -> t+1, at the pixels of t
            bw = dis.calc(gb, ga, None)  # t+1 -> t, at the pixels of t+1
            mx, my = gx + fw[..., 0], gy + fw[..., 1]
            # Forward-backward check (Ruder et al. 2016, after Sundaram et al. 2010).
            bw_at = cv2.remap(bw, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            s = fw + bw_at
            occ = (s ** 2).sum(-1) > 0.01 * ((fw ** 2).sum(-1) + (bw_at ** 2).sum(-1)) + 0.5
            # Motion boundaries.
            du = np.gradient(fw[..., 0])
            dv = np.gradient(fw[..., 1])
            grad2 = du[0] ** 2 + du[1] ** 2 + dv[0] ** 2 + dv[1] ** 2
            occ |= grad2 > 0.01 * (fw ** 2).sum(-1) + 0.002
            # Pixels that leave the frame.
            occ |= (mx < 0) | (mx > w - 1) | (my < 0) | (my > h - 1)
            self.pairs.append((mx, my, ~occ))

    def e_warp(self, outs, skip):
        errs = []
        for t, (mx, my, valid) in enumerate(self.pairs):
            if t in skip or valid.sum() == 0:
                continue
            warped = cv2.remap(outs[t + 1].astype(np.float32), mx, my, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            d = ((outs[t] - warped) ** 2).sum(-1)
            errs.append(float(d[valid].sum() / (3 * valid.sum())))
        return float(np.mean(errs)) if errs else float("nan")


def grad_energy(x):
    return float((np.diff(x, axis=0) ** 2).mean() + (np.diff(x, axis=1) ** 2).mean())


def extract(clip, first, count, width, out_dir):
    os.makedirs(out_dir)
    vf = f"select=between(n\\,{first}\\,{first + count - 1})"
    if width:
        vf += f",scale={width}:-2:flags=area"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", clip, "-vf", vf, "-vsync", "0",
                    "-start_number", "1", os.path.join(out_dir, "f.%04d.png")], check=True)
    paths = sorted(glob.glob(os.path.join(out_dir, "f.*.png")))
    if len(paths) < 3:
        sys.exit(f"{clip}: only {len(paths)} frames from {first}")
    return paths


def graph(src_dir, out_dir, n, params):
    ps = ", ".join(f"{k} = {v}" for k, v in params.items())
    return f"""fps = 25
frames = "1-{n}"

[[node]]
name = "src"
type = "read"
path = "{src_dir}/f.####.png"

[[node]]
name = "paint"
type = "wick.style-transfer"
input = "src"
params = {{ {ps} }}

[[node]]
name = "out"
type = "write"
input = "paint"
path = "{out_dir}/o.####.png"
"""


def toml_value(v):
    try:
        float(v)
        return v
    except ValueError:
        return json.dumps(v)


def loadavg():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def render(wick, work, tag, src_dir, n, params):
    out_dir = os.path.join(work, tag)
    os.makedirs(out_dir)
    g = os.path.join(work, f"{tag}.toml")
    with open(g, "w") as f:
        f.write(graph(src_dir, out_dir, n, params))
    start = time.perf_counter()
    cpu0 = os.times()
    r = subprocess.run([wick, "render", g], capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu1 = os.times()
    cpu = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    if r.returncode != 0:
        sys.exit(f"wick render ({tag}) failed ({r.returncode}):\n{r.stderr[-3000:]}")
    outs = [load(p) for p in sorted(glob.glob(os.path.join(out_dir, "o.*.png")))]
    if len(outs) != n:
        sys.exit(f"wick render ({tag}) wrote {len(outs)} frames, expected {n}")
    # `wick render` logs each frame's time: "wick: frame F (i/n) X ms, ...".
    per_frame = {int(m.group(1)): float(m.group(2))
                 for m in re.finditer(r"wick: frame (\d+) \(\d+/\d+\) (\d+) ms", r.stderr)}
    return outs, wall / n, cpu / n, per_frame


def strip(path, frames, a, b, picks, crop_w, gain=4.0):
    """Rows: input, per-frame, temporal, then each output's change from the previous frame
    (|out t - out t-1| x gain, no motion compensation: flicker shows as bright speckle)."""
    def change(seq, t):
        return np.clip(np.abs(seq[t] - seq[max(t - 1, 0)]) * gain, 0, 1)

    rows = []
    for seq in (frames, a, b, [change(a, t) for t in range(len(a))],
                [change(b, t) for t in range(len(b))]):
        tiles = []
        for t in picks:
            x = seq[t]
            w = x.shape[1]
            x0 = max(0, (w - crop_w) // 2)
            tiles.append(x[:, x0:x0 + crop_w])
            tiles.append(np.ones((x.shape[0], 4, 3)))
        rows.append(np.concatenate(tiles[:-1], 1))
        rows.append(np.ones((4, rows[-1].shape[1], 3)))
    img = np.concatenate(rows[:-1], 0)
    # 256 colours (median cut, dithered): a doc picture well under 1 MB.
    Image.fromarray(np.clip(np.round(img * 255), 0, 255).astype(np.uint8)).quantize(
        256).save(path, optimize=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--first", type=int, default=0, help="first frame (0-based)")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--width", type=int, default=0, help="scale to this width (0: as is)")
    ap.add_argument("--temporal", type=float, default=1.0)
    ap.add_argument("--param", action="append", default=[],
                    help="NAME=VALUE for both renders (e.g. style=3, model=arbitrary)")
    ap.add_argument("--tparam", action="append", default=[],
                    help="NAME=VALUE for the temporal render only")
    ap.add_argument("--wick", default=os.path.join(ROOT, "target", "release", "wick"))
    ap.add_argument("--strip", help="write a side-by-side PNG of the first clip")
    ap.add_argument("--strip-frames", default="",
                    help="frames (1-based, comma-separated) for --strip (default: 4 spread)")
    ap.add_argument("--strip-width", type=int, default=320, help="crop width for --strip")
    ap.add_argument("--keep", help="keep the frames in this folder")
    ap.add_argument("--steady-from", type=int, default=13,
                    help="also report the mean per-frame time of frames from this one on (as "
                         "`wick render` logs it: the model loaded, the 11-frame window full)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="render each clip's per-frame/temporal pair this many times, alternating, "
                         "and report the median times and ratios (frames must repeat exactly)")
    ap.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not os.path.exists(args.wick):
        sys.exit(f"{args.wick} not found: cargo build --release -p wick-plugin -p wick-cli")
    base = {"device": '"cpu"'}
    for kv in args.param:
        k, v = kv.split("=", 1)
        base[k] = toml_value(v)
    tparams = dict(base, temporal=args.temporal)
    for kv in args.tparam:
        k, v = kv.split("=", 1)
        tparams[k] = toml_value(v)
    work = args.keep or tempfile.mkdtemp(prefix="wick-temporal-")
    os.makedirs(work, exist_ok=True)
    rows = []
    try:
        for ci, clip in enumerate(args.clips):
            name = os.path.splitext(os.path.basename(clip))[0]
            d = os.path.join(work, f"{ci}_{name}")
            src = extract(clip, args.first, args.frames, args.width, os.path.join(d, "src"))
            frames = [load(p) for p in src]
            n = len(frames)
            cuts = {t for t in range(n - 1) if cut_score(frames[t], frames[t + 1]) >= 0.135}
            la0 = loadavg()
            # Per-frame and temporal renders alternate, `--repeat` times: each pair ran back to
            # back, so its ratio is steadier than either time on a shared machine; the medians
            # are reported, and every repeat must give the same frames.
            walls, cpus, steadies = [], [], []
            for k in range(args.repeat):
                sfx = "" if k == 0 else f".{k}"
                p_k, w_p, c_p, f_p = render(args.wick, d, "perframe" + sfx,
                                            os.path.join(d, "src"), n, base)
                t_k, w_t, c_t, f_t = render(args.wick, d, "temporal" + sfx,
                                            os.path.join(d, "src"), n, tparams)
                steady_frames = [f for f in f_p if f >= args.steady_from and f in f_t]
                if steady_frames:
                    steadies.append((np.mean([f_p[f] for f in steady_frames]),
                                     np.mean([f_t[f] for f in steady_frames])))
                if k == 0:
                    per, tmp = p_k, t_k
                elif not (all(np.array_equal(a, b) for a, b in zip(per, p_k))
                          and all(np.array_equal(a, b) for a, b in zip(tmp, t_k))):
                    sys.exit(f"{name}: repeat {k + 1} rendered different frames")
                walls.append((w_p, w_t))
                cpus.append((c_p, c_t))
            la1 = loadavg()
            ms_per, ms_tmp = (float(np.median([x[i] for x in walls])) for i in (0, 1))
            cpu_per, cpu_tmp = (float(np.median([x[i] for x in cpus])) for i in (0, 1))
            wall_ratio = float(np.median([t / p for p, t in walls]))
            cpu_ratio = float(np.median([t / p for p, t in cpus]))
            pairs = ", ".join(f"{t / p:.2f}/{ct / cp:.2f}" for (p, t), (cp, ct) in zip(walls, cpus))
            if steadies:
                st_per, st_tmp = (float(np.median([x[i] for x in steadies])) for i in (0, 1))
                st_ratio = float(np.median([t / p for p, t in steadies]))
            else:
                st_per = st_tmp = st_ratio = float("nan")
            fl = Flows(frames)
            e_in = fl.e_warp(frames, cuts)
            e_per = fl.e_warp(per, cuts)
            e_tmp = fl.e_warp(tmp, cuts)
            g = np.mean([grad_energy(x) for x in tmp]) / np.mean([grad_energy(x) for x in per])
            drift = max(float(np.abs(a.mean((0, 1)) - b.mean((0, 1))).max())
                        for a, b in zip(tmp, per)) * 255
            h, w = frames[0].shape[:2]
            row = dict(clip=name, size=f"{w}x{h}", frames=n, cuts=sorted(c + 1 for c in cuts),
                       e_in=e_in, e_per=e_per, e_tmp=e_tmp, ratio=e_tmp / e_per,
                       per_vs_in=e_per / e_in, grad=g, drift=drift, ms_per=ms_per * 1e3,
                       ms_tmp=ms_tmp * 1e3, time_ratio=wall_ratio, cpu_per=cpu_per * 1e3,
                       cpu_tmp=cpu_tmp * 1e3, cpu_ratio=cpu_ratio, repeats=args.repeat,
                       steady_per=st_per, steady_tmp=st_tmp, steady_ratio=st_ratio,
                       pair_ratios=pairs, load=f"{la0} -> {la1}")
            rows.append(row)
            print(f"{name} {w}x{h} x{n} (cuts after frames {row['cuts'] or 'none'}): "
                  f"E_warp input {e_in:.5f}, per-frame {e_per:.5f} ({e_per / e_in:.1f}x input), "
                  f"temporal {e_tmp:.5f}, ratio {e_tmp / e_per:.3f}; grad {g:.3f}, "
                  f"drift {drift:.2f}/255; {ms_per * 1e3:.0f} vs {ms_tmp * 1e3:.0f} ms/frame "
                  f"({wall_ratio:.2f}x), CPU {cpu_per * 1e3:.0f} vs {cpu_tmp * 1e3:.0f} "
                  f"ms/frame ({cpu_ratio:.2f}x); "
                  + (f"frames {args.steady_from}+ (model loaded, window full) {st_per:.0f} vs "
                     f"{st_tmp:.0f} ms/frame ({st_ratio:.2f}x)" if steadies
                     else f"no frames from {args.steady_from} on for a steady-state time")
                  + (f", median of {args.repeat} pairs (wall/CPU ratio per pair: {pairs})"
                     if args.repeat > 1 else "")
                  + f", load {la0} -> {la1}", flush=True)
            if args.strip and ci == 0:
                if args.strip_frames:
                    picks = [int(x) - 1 for x in args.strip_frames.split(",")]
                else:
                    picks = [t for t in range(0, n, max(1, n // 4))][:4]
                strip(args.strip, frames, per, tmp, picks, min(w, args.strip_width))
                print(f"wrote {args.strip} (rows: input, per-frame, temporal, per-frame change, "
                      f"temporal change (x4); frames {[p + 1 for p in picks]})")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"params: {base}; temporal: {tparams}")
    if args.markdown:
        print("\n| clip | size x frames | E_warp input | per-frame | temporal | ratio | "
              "grad energy | colour drift /255 | ms/frame per-frame | temporal | time ratio | "
              "CPU ms/frame per-frame | temporal | CPU ratio | steady ms/frame per-frame | "
              "temporal | steady ratio | load |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['clip']} | {r['size']} x {r['frames']} | {r['e_in']:.5f} | "
                  f"{r['e_per']:.5f} | {r['e_tmp']:.5f} | **{r['ratio']:.3f}** | "
                  f"{r['grad']:.3f} | {r['drift']:.2f} | {r['ms_per']:.0f} | {r['ms_tmp']:.0f} | "
                  f"{r['time_ratio']:.2f} | {r['cpu_per']:.0f} | {r['cpu_tmp']:.0f} | "
                  f"{r['cpu_ratio']:.2f} | {r['steady_per']:.0f} | {r['steady_tmp']:.0f} | "
                  f"**{r['steady_ratio']:.2f}** | {r['load']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
