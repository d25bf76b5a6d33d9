"""Frame-interpolation quality and time: Wick (RIFE 4.2x IFNet) vs ffmpeg minterpolate vs a blend.

Protocol (issue 5): take frames FIRST..LAST of a real clip, drop every other frame, rebuild each
dropped frame from its two neighbours with (1) Wick, (2) ffmpeg
`minterpolate=fps=2x:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1` run on the kept frames,
(3) a 50/50 blend; skip triples that are duplicates (neighbours identical) or cuts (blend PSNR
below 15 dB); print the mean PSNR (8-bit RGB, vs the real dropped frame) and total time of each.

Wick runs through models/examples/rife_interp.rs (build it first:
`cargo build -p wick-models --example rife_interp`). Its time is reported twice: the
network alone (as the example measures it) and the whole process (weights load + PPM I/O), the
latter comparable with ffmpeg's whole-process time; CPU time (user + sys of each child process)
is printed beside wall time because it is less disturbed by other work on a shared machine.
Needs ffmpeg, numpy, pillow.

    python3 tools/bench_interpolate.py --clip ../shared/media/clips/bikes.mp4 --first 77 --last 135 \
        [--scale 1.0] [--picture docs/interpolate-bikes.png] [--pairs ../shared/media/pairs]

With --pairs, also reports on the consecutive RIFE demo pairs I{0,1,2}_{0,1}.png, which have no
real middle frame: the score there is a round-trip consistency PSNR, the middle frame made
directly (t = 0.5) vs the middle of the frames made at t = 0.25 and 0.75 (a blend scores
infinity on it by construction, so it is not listed).
"""

import argparse
import glob
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYMMETRIC = False
MIRROR = False
MI = "minterpolate=fps={fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"


def load(p):
    return np.asarray(Image.open(p).convert("RGB"), dtype=np.float64)


def psnr(a, b):
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def save_ppm(arr, p):
    Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8)).save(p)


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


CPU = {}


def run_wick(bin_path, weights, scale, jobs, work):
    jf = os.path.join(work, "jobs.txt")
    with open(jf, "w") as f:
        for a, b, t, o in jobs:
            f.write(f"{a} {b} {t} {o}\n")
    start, cpu0 = time.perf_counter(), child_cpu()
    with open(jf) as stdin:
        cmd = [bin_path, weights, str(scale)] + (["symmetric"] if SYMMETRIC else []) + (["mirror"] if MIRROR else [])
        r = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True)
    wall = time.perf_counter() - start
    CPU["wick"] = child_cpu() - cpu0
    if r.returncode != 0:
        sys.exit(f"rife_interp failed:\n{r.stderr}")
    m = re.search(r"network time ([0-9.]+) s", r.stdout)
    return float(m.group(1)), wall


def run_minterpolate(pattern, fps_in, factor, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cmd = [
        "ffmpeg", "-loglevel", "error", "-y", "-framerate", str(fps_in), "-i", pattern,
        "-vf", MI.format(fps=fps_in * factor), os.path.join(out_dir, "m_%04d.ppm"),
    ]
    start, cpu0 = time.perf_counter(), child_cpu()
    subprocess.run(cmd, check=True)
    CPU["mi"] = child_cpu() - cpu0
    return time.perf_counter() - start, sorted(glob.glob(os.path.join(out_dir, "m_*.ppm")))


def clip_bench(args, work):
    fdir = os.path.join(work, "frames")
    os.makedirs(fdir)
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", args.clip, "-vf",
         f"select=between(n\\,{args.first}\\,{args.last})", "-vsync", "0",
         "-start_number", str(args.first), os.path.join(fdir, "f_%04d.ppm")],
        check=True,
    )
    frames = {i: os.path.join(fdir, f"f_{i:04d}.ppm") for i in range(args.first, args.last + 1)}
    missing = [i for i, p in frames.items() if not os.path.exists(p)]
    if missing:
        sys.exit(f"could not extract frames {missing[:5]}...")
    kept = list(range(args.first, args.last + 1, 2))
    kdir = os.path.join(work, "kept")
    os.makedirs(kdir)
    for k, i in enumerate(kept):
        shutil.copy(frames[i], os.path.join(kdir, f"k_{k:04d}.ppm"))
    # ffmpeg's frame-rate conversion stops one output short of the last input; a repeated last
    # frame lets it produce the final in-between (it affects nothing before it).
    shutil.copy(frames[kept[-1]], os.path.join(kdir, f"k_{len(kept):04d}.ppm"))
    h, w = load(frames[args.first]).shape[:2]

    # Wick.
    odir = os.path.join(work, "wick")
    os.makedirs(odir)
    jobs = [(frames[a], frames[a + 2], 0.5, os.path.join(odir, f"w_{a + 1:04d}.ppm")) for a in kept[:-1]]
    net_s, wick_wall = run_wick(args.bin, args.weights, args.scale, jobs, work)
    wick_cpu = CPU["wick"]

    # minterpolate on the kept frames at half the frame rate, doubled back.
    mi_s, mi_frames = run_minterpolate(os.path.join(kdir, "k_%04d.ppm"), args.fps / 2, 2, os.path.join(work, "mi"))
    if len(mi_frames) < 2 * len(kept) - 2:
        sys.exit(f"minterpolate produced {len(mi_frames)} frames for {len(kept)} inputs")
    # Its even outputs are the kept frames: check the alignment before scoring the odd ones.
    align = psnr(load(mi_frames[2]), load(frames[kept[1]]))
    if align < 40:
        sys.exit(f"minterpolate output misaligned (PSNR of output 2 vs kept 1 = {align:.1f} dB)")

    rows = []
    skipped = []
    for k, a in enumerate(kept[:-1]):
        gt = load(frames[a + 1])
        fa, fb = load(frames[a]), load(frames[a + 2])
        blend = (fa + fb) / 2
        if psnr(fa, fb) == float("inf"):
            skipped.append((a + 1, "duplicate"))
            continue
        if psnr(np.round(blend), gt) < 15:
            skipped.append((a + 1, "cut"))
            continue
        wk = load(jobs[k][3])
        mi = load(mi_frames[2 * k + 1])
        rows.append((a + 1, psnr(wk, gt), psnr(mi, gt), psnr(np.round(blend), gt)))
    arr = np.array([r[1:] for r in rows])
    n = len(rows)
    print(f"clip {os.path.basename(args.clip)} frames {args.first}-{args.last}, {w}x{h}: "
          f"{n} dropped frames scored, skipped {skipped or 'none'}")
    print(f"  Wick RIFE 4.2x (scale {args.scale}{', symmetric' if SYMMETRIC else ''}{', mirror' if MIRROR else ''}): mean PSNR {arr[:, 0].mean():.2f} dB, "
          f"network {net_s:.2f} s, whole process {wick_wall:.2f} s wall / {wick_cpu:.2f} s CPU "
          f"for {len(jobs)} frames ({1e3 * net_s / len(jobs):.0f} ms/frame)")
    print(f"  ffmpeg minterpolate:            mean PSNR {arr[:, 1].mean():.2f} dB, "
          f"whole process {mi_s:.2f} s wall / {CPU['mi']:.2f} s CPU")
    print(f"  50/50 blend:                    mean PSNR {arr[:, 2].mean():.2f} dB")
    print(f"  Wick - minterpolate: {arr[:, 0].mean() - arr[:, 1].mean():+.2f} dB; "
          f"Wick better on {(arr[:, 0] > arr[:, 1]).sum()}/{n} frames")
    if args.picture:
        # The frame where Wick gains most over the blend: neighbours, truth, Wick, minterpolate, blend.
        best = max(range(n), key=lambda i: rows[i][1] - rows[i][3])
        f = rows[best][0]
        k = kept.index(f - 1)
        tiles = [load(frames[f - 1]), load(frames[f + 1]), load(frames[f]), load(jobs[k][3]),
                 load(mi_frames[2 * k + 1]), np.round((load(frames[f - 1]) + load(frames[f + 1])) / 2)]
        names = [f"frame {f - 1}", f"frame {f + 1}", f"real frame {f}",
                 f"Wick {rows[best][1]:.1f} dB", f"minterpolate {rows[best][2]:.1f} dB",
                 f"blend {rows[best][3]:.1f} dB"]
        make_picture(tiles, names, args.picture)
        print(f"  picture: {args.picture} (frame {f})")


def make_picture(tiles, names, path):
    from PIL import ImageDraw

    h, w = tiles[0].shape[:2]
    cols = 3
    rows = (len(tiles) + cols - 1) // cols
    pad = 18
    canvas = Image.new("RGB", (cols * w, rows * (h + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (t, name) in enumerate(zip(tiles, names)):
        x, y = (i % cols) * w, (i // cols) * (h + pad)
        canvas.paste(Image.fromarray(np.clip(t, 0, 255).astype(np.uint8)), (x, y + pad))
        draw.text((x + 4, y + 3), name, fill="black")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    canvas.save(path)


def pairs_bench(args, work):
    pdir = os.path.join(work, "pairs")
    os.makedirs(pdir)
    jobs = []
    names = []
    for i in range(3):
        a, b = os.path.join(args.pairs, f"I{i}_0.png"), os.path.join(args.pairs, f"I{i}_1.png")
        if not os.path.exists(a):
            continue
        names.append(f"I{i}")
        pa, pb = os.path.join(pdir, f"I{i}_a.ppm"), os.path.join(pdir, f"I{i}_b.ppm")
        save_ppm(load(a), pa)
        save_ppm(load(b), pb)
        for t in (0.25, 0.5, 0.75):
            jobs.append((pa, pb, t, os.path.join(pdir, f"I{i}_{int(t * 100)}.ppm")))
    run_wick(args.bin, args.weights, args.scale, jobs, work)
    second = [(os.path.join(pdir, f"{n}_25.ppm"), os.path.join(pdir, f"{n}_75.ppm"), 0.5,
               os.path.join(pdir, f"{n}_rt.ppm")) for n in names]
    run_wick(args.bin, args.weights, args.scale, second, work)
    for n in names:
        direct = load(os.path.join(pdir, f"{n}_50.ppm"))
        rt = load(os.path.join(pdir, f"{n}_rt.ppm"))
        # minterpolate: 4x on the pair gives t = 0.25, 0.5, 0.75; 2x on (0.25, 0.75) gives the round trip.
        # (Last frame repeated: ffmpeg's rate conversion stops one output short of the last input.)
        shutil.copy(os.path.join(pdir, f"{n}_a.ppm"), os.path.join(pdir, f"{n}_s_0000.ppm"))
        shutil.copy(os.path.join(pdir, f"{n}_b.ppm"), os.path.join(pdir, f"{n}_s_0001.ppm"))
        shutil.copy(os.path.join(pdir, f"{n}_b.ppm"), os.path.join(pdir, f"{n}_s_0002.ppm"))
        _, m4 = run_minterpolate(os.path.join(pdir, f"{n}_s_%04d.ppm"), 1, 4, os.path.join(pdir, f"{n}_m4"))
        shutil.copy(m4[1], os.path.join(pdir, f"{n}_q_0000.ppm"))
        shutil.copy(m4[3], os.path.join(pdir, f"{n}_q_0001.ppm"))
        shutil.copy(m4[3], os.path.join(pdir, f"{n}_q_0002.ppm"))
        _, m2 = run_minterpolate(os.path.join(pdir, f"{n}_q_%04d.ppm"), 1, 2, os.path.join(pdir, f"{n}_m2"))
        a, b = load(os.path.join(pdir, f"{n}_a.ppm")), load(os.path.join(pdir, f"{n}_b.ppm"))
        print(f"pair {n}: round-trip consistency PSNR Wick {psnr(direct, rt):.2f} dB, "
              f"minterpolate {psnr(load(m4[2]), load(m2[1])):.2f} dB; "
              f"PSNR of the two input frames to each other {psnr(a, b):.2f} dB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default=os.path.join(ROOT, "../shared/media/clips/bikes.mp4"))
    ap.add_argument("--first", type=int, default=77)
    ap.add_argument("--last", type=int, default=135)
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/debug/examples/rife_interp"))
    ap.add_argument("--weights", default=os.path.join(ROOT, "models/weights/rife42.safetensors"))
    ap.add_argument("--picture", default=None)
    ap.add_argument("--pairs", default=None)
    ap.add_argument("--symmetric", action="store_true",
                    help="Wick averages the (a, b, t) and (b, a, 1 - t) estimates (2x time)")
    ap.add_argument("--mirror", action="store_true",
                    help="also average the estimate on left-right mirrored frames (2x time)")
    ap.add_argument("--no-clip", action="store_true", help="only the --pairs part")
    ap.add_argument("--keep", action="store_true", help="keep the work folder and print it")
    args = ap.parse_args()
    global SYMMETRIC, MIRROR
    SYMMETRIC = args.symmetric
    MIRROR = args.mirror
    if os.environ.get("CARGO_TARGET_DIR") and not os.path.exists(args.bin):
        args.bin = os.path.join(os.environ["CARGO_TARGET_DIR"], "debug/examples/rife_interp")
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} missing: cargo build -p wick-models --example rife_interp")
    work = tempfile.mkdtemp(prefix="wick-bench-interp-")
    try:
        if not args.no_clip:
            clip_bench(args, work)
        if args.pairs:
            pairs_bench(args, work)
    finally:
        if args.keep:
            print("work folder:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
