"""Where Wick loses: the network's raw estimate (flows + mask, from the rife_interp example's
dump) recomposed in NumPy several ways, scored per frame and per region (flow magnitude, warp
agreement) against minterpolate, 2x, on tools/interp_quick.py's cached frames.

    cargo build -p wick-models --example rife_interp
    python3 tools/interp_regions.py vtest [--m0s 4 8] [--tols 0.125 0.25] [--pows 2 4] [--blur 1] [--up 2]

Compositions: rife (the mask), agree (the agreement gate), avg (both warps 0.5/0.5), blend (no
motion), mi (minterpolate), t<tol>p<pow> (gate exp(-(d/tol)^pow)), mot<m0> (agreement gate or
still-motion gate of radius m0 px). --blur feeds the network Gaussian-blurred frames (prefilter),
--up 2x-upscaled ones (flows scaled back); composition always uses the frames as they are.
"""
import argparse, glob, os, shutil, subprocess, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_interpolate as B
from PIL import Image

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench-data")
EX = os.path.join(HERE, "..", "target", "debug", "examples", "rife_interp")
W = os.path.join(HERE, "..", "models", "weights", "rife42.safetensors")


def ppm(x, p):
    h, w = x.shape[:2]
    with open(p, "wb") as f:
        f.write(f"P6\n{w} {h}\n255\n".encode())
        f.write(np.clip(np.round(x), 0, 255).astype(np.uint8).tobytes())


def warp(img, fx, fy):
    h, w = fx.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    x = np.clip(xx + fx, 0, w - 1)
    y = np.clip(yy + fy, 0, h - 1)
    x0 = np.floor(x).astype(int); y0 = np.floor(y).astype(int)
    x1 = np.minimum(x0 + 1, w - 1); y1 = np.minimum(y0 + 1, h - 1)
    ax = (x - x0)[..., None]; ay = (y - y0)[..., None]
    return ((1 - ay) * ((1 - ax) * img[y0, x0] + ax * img[y0, x1])
            + ay * ((1 - ax) * img[y1, x0] + ax * img[y1, x1]))


def box(x, r=2):
    k = 2 * r + 1
    p = np.pad(x, r, mode="edge")
    c = np.cumsum(np.cumsum(p, 0), 1)
    c = np.pad(c, ((1, 0), (1, 0)))
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def mse(a, b):
    return ((np.clip(np.round(a), 0, 255) - b) ** 2).mean(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--frames", type=int, default=25)
    ap.add_argument("--scale", default="1")
    ap.add_argument("--up", type=int, default=1)
    ap.add_argument("--tols", type=float, nargs="+", default=[0.125])
    ap.add_argument("--pows", type=float, nargs="+", default=[2])
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--blur", type=float, default=0)
    ap.add_argument("--m0s", type=float, nargs="+", default=[])
    ap.add_argument("--skipmi", action="store_true")
    a = ap.parse_args()
    d = os.path.join(HERE, "frames", f"{a.name}_{a.frames}")
    paths = sorted(glob.glob(d + "/*.png"))
    imgs = [B.load(p) for p in paths]
    work = os.path.join(HERE, f"tmp_an_{a.name}_{a.scale}_{a.up}_{a.blur}")
    cached = os.path.isdir(work)
    os.makedirs(work + "/mi_in", exist_ok=True); os.makedirs(work + "/mi_out", exist_ok=True); os.makedirs(work + "/dump", exist_ok=True)
    kept = list(range(0, len(paths), 2))
    for j, i in enumerate(kept):
        shutil.copy(paths[i], f"{work}/mi_in/{j:04d}.png")
    shutil.copy(paths[kept[-1]], f"{work}/mi_in/{len(kept):04d}.png")
    if not cached: subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-framerate", "25", "-i", f"{work}/mi_in/%04d.png",
                    "-vf", B.MI.format(fps=50), f"{work}/mi_out/%04d.png"], check=True)
    mi_out = sorted(glob.glob(f"{work}/mi_out/*.png"))
    jobs = []
    for j in range(len(kept) - 1):
        f0, f1 = kept[j], kept[j + 1]
        x0, x1 = imgs[f0], imgs[f1]
        if a.up > 1:
            h, w = x0.shape[:2]
            x0 = np.asarray(Image.fromarray(x0.astype(np.uint8)).resize((w * a.up, h * a.up), Image.BICUBIC), dtype=np.float64)
            x1 = np.asarray(Image.fromarray(x1.astype(np.uint8)).resize((w * a.up, h * a.up), Image.BICUBIC), dtype=np.float64)
        if a.blur:
            from PIL import ImageFilter
            bl = lambda x: np.asarray(Image.fromarray(np.clip(np.round(x), 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(a.blur)), dtype=np.float64)
            x0, x1 = bl(x0), bl(x1)
        ppm(x0, f"{work}/{f0}.ppm"); ppm(x1, f"{work}/{f1}.ppm")
        jobs.append(f"{work}/{f0}.ppm {work}/{f1}.ppm 0.5 {work}/o{f0 + 1}.ppm")
    if not cached: subprocess.run([EX, W, a.scale, "tol=0", f"dump={work}/dump"], input="\n".join(jobs), text=True,
                   check=True, capture_output=True)
    tot = {}
    regions = {}
    for j in range(len(kept) - 1):
        f0, f1 = kept[j], kept[j + 1]
        g = f0 + 1
        gt, x0, x1 = imgs[g], imgs[f0], imgs[f1]
        h, w = gt.shape[:2]
        H, Wd = h * a.up, w * a.up
        est = np.fromfile(f"{work}/dump/o{g}.ppm.est", dtype="<f4").reshape(5, H, Wd)
        if a.up > 1:
            u = a.up
            est = est.reshape(5, h, u, w, u).mean((2, 4))
            est[:4] /= u
        fl, m = est[:4].astype(np.float64), 1 / (1 + np.exp(-est[4].astype(np.float64)))
        w0 = warp(x0, fl[0], fl[1]); w1 = warp(x1, fl[2], fl[3])
        dd = box(np.abs(w0 - w1).mean(-1) / 255.0)
        gg = np.exp(-(dd / 0.125) ** 2)
        wt = gg * 0.5 + (1 - gg) * m
        extra = {}
        mot = np.hypot(fl[0], fl[1]) + np.hypot(fl[2], fl[3])
        mp = np.pad(mot, 2, mode="edge")
        mmax = np.max([mp[dy:dy + h, dx:dx + w] for dy in range(5) for dx in range(5)], 0)
        g0 = np.exp(-(dd / 0.125) ** 2)
        for m0 in a.m0s:
            gm = np.maximum(g0, np.exp(-(mmax / m0) ** 2))
            wx = (gm * 0.5 + (1 - gm) * m)[..., None]
            extra[f"mot{m0:g}"] = wx * w0 + (1 - wx) * w1
        for tol in a.tols:
            for pw in a.pows:
                gx = np.exp(-(dd / tol) ** pw)
                wx = (gx * 0.5 + (1 - gx) * m)[..., None]
                extra[f"t{tol:g}p{pw:g}"] = wx * w0 + (1 - wx) * w1
        cands = {
            **extra,
            "rife": m[..., None] * w0 + (1 - m[..., None]) * w1,
            "agree": wt[..., None] * w0 + (1 - wt[..., None]) * w1,
            "avg": 0.5 * (w0 + w1),
            "blend": 0.5 * (x0 + x1),
            "mi": B.load(mi_out[g]),
        }
        mag = np.maximum(np.hypot(fl[0], fl[1]), np.hypot(fl[2], fl[3]))
        reg = np.select([mag < 0.5, mag < 2, mag < 8], ["static", "small", "mid"], "large")
        dis = np.where(dd > 0.125, "disagree", "agree")
        for k, c in cands.items():
            e = mse(c, gt)
            tot.setdefault(k, []).append(B.psnr(np.clip(np.round(c), 0, 255), gt))
            for r in ("static", "small", "mid", "large"):
                sel = reg == r
                regions.setdefault((k, r), [0.0, 0])
                regions[(k, r)][0] += e[sel].sum(); regions[(k, r)][1] += sel.sum()
            for r in ("agree", "disagree"):
                sel = dis == r
                regions.setdefault((k, r), [0.0, 0])
                regions[(k, r)][0] += e[sel].sum(); regions[(k, r)][1] += sel.sum()
    npx = sum(regions[("mi", r)][1] for r in ("static", "small", "mid", "large"))
    print(a.name, " ".join(f"{k} {np.mean(v):.2f}" for k, v in tot.items()))
    for r in (() if a.quiet else ("static", "small", "mid", "large", "agree", "disagree")):
        n = regions[("mi", r)][1]
        if not n:
            continue
        print(f"  {r:8s} {100 * n / npx:5.1f}% px  mse share of total (per method):",
              " ".join(f"{k} {regions[(k, r)][0] / npx:7.2f}" for k in cands))


if __name__ == "__main__":
    main()
