"""Frame-interpolation quality and time on any clip: Wick vs FFmpeg minterpolate vs a blend.

For each clip and each retime factor N (default 2, 3, 4): take FRAMES frames from FIRST, keep
every N-th, rebuild the N-1 dropped frames between each kept pair (t = k/N) with
  (1) `wick retime KEPT --factor N` (the shipped command, default settings unless --param),
  (2) `ffmpeg minterpolate=mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1` at N x the rate,
  (3) a blend at the time weights (1 - t, t),
and score each rebuilt frame against the real one (PSNR, 8-bit RGB). Groups that span a scene
cut (found by this script on the original frames, see `cut_scores`) and dropped frames that
duplicate a neighbour (PSNR > 50 dB: held frames in animation) are skipped and listed. Wick and
minterpolate run one after the other on the same PNGs in the same run (whole process, PNG in and
out for both); the time ratio and the machine's load average are printed with them. The cuts
`wick retime` reported are printed beside the script's own.

Degraded variants (--degrade) stand in for material you do not have: `noise` (Gaussian sensor
noise, sigma 6/255, new every frame), `qcif` (downscaled to 176x144), `jpeg` (every frame
through JPEG quality 20: blocking and ringing).

    cargo build --release --workspace           # target/release/wick + libwick.so
    python3 tools/bench_interpolate.py ../shared/media/clips/box.mp4 --first 100 --frames 49
    python3 tools/bench_interpolate.py my_clip.mov --factor 2 --degrade noise qcif --json out.json

Needs ffmpeg, numpy, pillow (pip install numpy pillow).
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

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MI = "minterpolate=fps={fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"
DEGRADE = ("noise", "qcif", "jpeg")


def load(p):
    return np.asarray(Image.open(p).convert("RGB"), dtype=np.float64)


def save(arr, p, **kw):
    Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8)).save(p, **kw)


def psnr(a, b):
    mse = np.mean((a - b) ** 2)
    return 99.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def cut_score(a, b):
    """The same score as Wick's rife::cuts (colour histograms x shift-tolerant thumbnails)."""
    a, b = a / 255.0, b / 255.0
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


def extract(clip, first, count, degrade, out_dir):
    """Frames first..first+count-1 as out_dir/%04d.png (numbered from 0), degraded."""
    os.makedirs(out_dir)
    vf = f"select=between(n\\,{first}\\,{first + count - 1})"
    if degrade == "qcif":
        vf += ",scale=176:144:flags=area"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", clip, "-vf", vf, "-vsync", "0",
                    "-start_number", "0", os.path.join(out_dir, "%04d.png")], check=True)
    paths = sorted(glob.glob(os.path.join(out_dir, "*.png")))
    if len(paths) < 3:
        sys.exit(f"{clip}: only {len(paths)} frames from {first}")
    rng = np.random.default_rng(1)
    for p in paths:
        if degrade == "noise":
            x = load(p)
            save(x + rng.normal(0, 6.0, x.shape), p)
        elif degrade == "jpeg":
            tmp = p + ".jpg"
            save(load(p), tmp, quality=20)
            save(load(tmp), p)
            os.remove(tmp)
    return paths


def timed(cmd, **kw):
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return time.perf_counter() - start, r


def bench(args, clip, degrade, factor, work, frames_cache):
    key = (clip, degrade)
    if key not in frames_cache:
        d = os.path.join(work, f"src{len(frames_cache)}")
        paths = extract(clip, args.first, args.frames, degrade, d)
        imgs = [load(p) for p in paths]
        scores = [cut_score(imgs[i], imgs[i + 1]) for i in range(len(imgs) - 1)]
        frames_cache[key] = (paths, imgs, scores)
    paths, imgs, scores = frames_cache[key]
    n = factor
    kept = list(range(0, len(paths), n))
    tag = f"{os.path.basename(clip)}{'+' + degrade if degrade else ''} x{n}"
    kd, md, wd, mo = (os.path.join(work, f"{s}_{tag.replace(' ', '_')}") for s in "kmwo")
    for d in (kd, md, wd, mo):
        os.makedirs(d)
    for j, i in enumerate(kept):
        shutil.copy(paths[i], os.path.join(kd, f"{j:04d}.png"))
        shutil.copy(paths[i], os.path.join(md, f"{j:04d}.png"))
    # ffmpeg's rate conversion stops one output short of the last input: a repeated last frame
    # lets it produce the last in-betweens (it changes nothing before them).
    shutil.copy(paths[kept[-1]], os.path.join(md, f"{len(kept):04d}.png"))
    wick_cmd = [args.wick, "retime", os.path.join(kd, "%04d.png"), "--factor", str(n),
                "--out", os.path.join(wd, "%04d.png"), "--jobs", str(args.jobs)]
    if args.param:
        wick_cmd += ["--param"] + args.param
    fps = args.fps
    mi_cmd = ["ffmpeg", "-loglevel", "error", "-y", "-framerate", str(fps), "-i",
              os.path.join(md, "%04d.png"), "-vf", MI.format(fps=fps * n),
              os.path.join(mo, "%04d.png")]
    load0 = os.getloadavg()[0]
    wick_s, r = timed(wick_cmd)
    mi_s, _ = timed(mi_cmd)
    load1 = os.getloadavg()[0]
    reported = [(int(a), int(b)) for a, b in re.findall(r"scene cut between input frames (\d+) and (\d+)", r.stderr)]
    mi_out = sorted(glob.glob(os.path.join(mo, "*.png")))
    if len(mi_out) < (len(kept) - 1) * n + 1:
        sys.exit(f"{tag}: minterpolate wrote {len(mi_out)} frames for {len(kept)} inputs")
    if psnr(load(mi_out[n]), imgs[kept[1]]) < 40:
        sys.exit(f"{tag}: minterpolate output misaligned")
    cut_pairs = {i for i, s in enumerate(scores) if s >= args.cut_threshold}
    rows, skipped = [], []
    for j in range(len(kept) - 1):
        a, b = kept[j], kept[j + 1]
        if any(i in cut_pairs for i in range(a, b)):
            skipped += [(a + k, "cut") for k in range(1, b - a)]
            continue
        for k in range(1, b - a):
            g, t = a + k, k / (b - a)
            gt = imgs[g]
            if max(psnr(gt, imgs[a]), psnr(gt, imgs[b])) > 50:
                skipped.append((g, "duplicate"))
                continue
            wk = load(os.path.join(wd, f"{g:04d}.png"))
            mi = load(mi_out[g])
            bl = np.round(imgs[a] * (1 - t) + imgs[b] * t)
            rows.append(dict(frame=args.first + g, t=t, wick=psnr(wk, gt), mi=psnr(mi, gt),
                             blend=psnr(bl, gt)))
    h, w = imgs[0].shape[:2]
    res = dict(clip=os.path.basename(clip), degrade=degrade or "", factor=n, size=f"{w}x{h}",
               first=args.first, frames=len(paths), scored=len(rows), skipped=skipped,
               rebuilt=(len(kept) - 1) * (n - 1), wick_s=wick_s, mi_s=mi_s,
               ratio=wick_s / mi_s, load=(load0, load1), rows=rows,
               cuts_script=sorted(args.first + i + 1 for i in cut_pairs),
               cuts_wick=[(args.first + kept[a], args.first + kept[b]) for a, b in reported])
    if rows:
        for k in ("wick", "mi", "blend"):
            res[k] = float(np.mean([r[k] for r in rows]))
        res["better"] = sum(r["wick"] > r["mi"] for r in rows)
    return res


def report(res):
    tag = f"{res['clip']}{'+' + res['degrade'] if res['degrade'] else ''}"
    print(f"{tag} {res['size']} frames {res['first']}-{res['first'] + res['frames'] - 1}, x{res['factor']}: "
          f"{res['scored']} of {res['rebuilt']} rebuilt frames scored"
          + (f", skipped {len(res['skipped'])} ({', '.join(sorted({s[1] for s in res['skipped']}))})" if res["skipped"] else ""))
    if res["scored"]:
        print(f"  Wick {res['wick']:.2f} dB | minterpolate {res['mi']:.2f} | blend {res['blend']:.2f} | "
              f"Wick - minterpolate {res['wick'] - res['mi']:+.2f} dB ({res['better']}/{res['scored']} frames better), "
              f"Wick - blend {res['wick'] - res['blend']:+.2f}")
    print(f"  time (same run, whole process, PNG in/out): Wick {res['wick_s']:.2f} s, minterpolate "
          f"{res['mi_s']:.2f} s, ratio {res['ratio']:.2f}x; load average {res['load'][0]:.1f} -> {res['load'][1]:.1f}")
    print(f"  cuts (first frame of the new shot): script {res['cuts_script'] or 'none'}; "
          f"wick retime reported between kept frames {res['cuts_wick'] or 'none'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--first", type=int, default=0, help="first frame (0-based)")
    ap.add_argument("--frames", type=int, default=49, help="frames to take")
    ap.add_argument("--factor", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--degrade", nargs="*", default=[], choices=DEGRADE,
                    help="also score these degraded variants")
    ap.add_argument("--only-degraded", action="store_true", help="skip the clean clip")
    ap.add_argument("--fps", type=float, default=25.0, help="frame rate given to minterpolate")
    ap.add_argument("--param", nargs="*", default=[], help="wick.interpolate params NAME=VALUE")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cut-threshold", type=float, default=0.135)
    ap.add_argument("--wick", default=None, help="the wick binary (default target/release/wick)")
    ap.add_argument("--json", default=None, help="append results to this JSON-lines file")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.wick is None:
        tgt = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        args.wick = os.path.join(tgt, "release", "wick")
    if not os.path.exists(args.wick):
        sys.exit(f"{args.wick} missing: cargo build --release --workspace")
    work = tempfile.mkdtemp(prefix="wick-bench-interp-")
    try:
        cache = {}
        variants = ([] if args.only_degraded else [None]) + list(args.degrade)
        for clip in args.clips:
            for deg in variants:
                for n in args.factor:
                    res = bench(args, clip, deg, n, work, cache)
                    report(res)
                    sys.stdout.flush()
                    if args.json:
                        with open(args.json, "a") as f:
                            f.write(json.dumps(res) + "\n")
    finally:
        if args.keep:
            print("work folder:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
