"""How far could any choice between Wick, minterpolate and a plain blend go? (issue #20)

For each clip of tools/interp_quick.py (2x: every other frame dropped and rebuilt, 25 frames a
clip, duplicated frames skipped), scores Wick's default output, FFmpeg minterpolate's and the
blend of the two neighbours, then an *oracle* that knows the true frame and takes, per block of
16x16 (and 4x4) pixels, whichever of them is closest to it. No real method can do better than
that oracle by choosing or fusing among those three results: where it stays under a goal, the
goal needs better motion or content from the network itself, not better fusion.

    python3 tools/interp_bound.py [--only a,b] [--wick PATH]

Prints per clip (dB against minterpolate): Wick, the best of Wick/minterpolate per 16 px block,
the best of Wick/minterpolate/blend per 16 px and per 4 px block. Frames and minterpolate's
output are cached under bench-data/frames.
"""
import argparse, glob, os, shutil, subprocess, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_interpolate as B
import interp_quick as Q


def mi_frames(name, paths):
    """minterpolate's 2x output for the kept (even) frames, cached; index g = output frame g."""
    d = os.path.join(Q.HERE, "frames", f"{name}_{len(paths)}_mi2_out")
    if not os.path.isdir(d):
        work = d + ".tmp"
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work + "/in")
        kept = list(range(0, len(paths), 2))
        for j, i in enumerate(kept):
            shutil.copy(paths[i], f"{work}/in/{j:04d}.png")
        shutil.copy(paths[kept[-1]], f"{work}/in/{len(kept):04d}.png")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-framerate", "25", "-i", f"{work}/in/%04d.png",
                        "-vf", B.MI.format(fps=50), "-start_number", "0", f"{work}/%04d.png"], check=True)
        shutil.rmtree(work + "/in")
        os.rename(work, d)
    return d


def wick_frames(wick, paths, params):
    work = os.path.join(Q.HERE, "tmp_bound")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work + "/in")
    for j, i in enumerate(range(0, len(paths), 2)):
        shutil.copy(paths[i], f"{work}/in/{j:04d}.png")
    cmd = [wick, "retime", f"{work}/in/%04d.png", "--factor", "2", "--out", f"{work}/out/%04d.png"]
    if params:
        cmd += ["--param"] + params
    subprocess.run(cmd, check=True, capture_output=True)
    return work + "/out"


def blocks(e, s):
    h, w = e.shape[0] // s * s, e.shape[1] // s * s
    return e[:h, :w].reshape(h // s, s, w // s, s).mean((1, 3))


def db(mse):
    return 10 * np.log10(255.0**2 / mse)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=25)
    ap.add_argument("--wick", default=os.path.join(Q.HERE, "..", "target", "release", "wick"))
    ap.add_argument("--only", default="")
    ap.add_argument("params", nargs="*")
    a = ap.parse_args()
    only = set(a.only.split(",")) if a.only else None
    print("clip        Wick   best of W/mi (16px)   best of W/mi/blend (16px, 4px)   [dB vs minterpolate]")
    for name, clip, first, deg in Q.CLIPS:
        if only and name not in only:
            continue
        paths = Q.frames(name, clip, first, deg, a.frames)
        imgs = [B.load(p) for p in paths]
        mi = mi_frames(name, paths)
        wk = wick_frames(a.wick, paths, a.params)
        rows = []
        for g in range(1, len(paths) - 1, 2):
            gt, p0, p1 = imgs[g], imgs[g - 1], imgs[g + 1]
            if max(B.psnr(gt, p0), B.psnr(gt, p1)) > 50:
                continue
            outs = (B.load(f"{wk}/{g:04d}.png"), B.load(f"{mi}/{g:04d}.png"), np.round(0.5 * (p0 + p1)))
            err = [((x - gt) ** 2).mean(2) for x in outs]
            b16 = [blocks(x, 16) for x in err]
            b4 = [blocks(x, 4) for x in err]
            rows.append([db(err[0].mean()), db(err[1].mean()),
                         db(np.minimum(b16[0], b16[1]).mean()),
                         db(np.minimum.reduce(b16).mean()), db(np.minimum.reduce(b4).mean())])
        r = np.mean(rows, 0)
        print(f"{name:10s} {r[0] - r[1]:+6.2f}   {r[2] - r[1]:+6.2f}                {r[3] - r[1]:+6.2f}  {r[4] - r[1]:+6.2f}",
              flush=True)


if __name__ == "__main__":
    main()
