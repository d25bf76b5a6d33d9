"""Where the temporal output's warping error is: E_warp split by motion and by texture.

Reads the frames `tools/bench_temporal.py --keep DIR` kept (DIR/<n>_<clip>/{src,perframe,
temporal}) and, for each clip, splits the E_warp of both outputs (same definition and the same
DIS flows and occlusion masks as bench_temporal.py) into bins of

  motion   the DIS flow's length at the pixel (px per frame), and
  texture  the input's local gradient energy (luma, Sobel / 8, Gaussian window sigma 2),

printing per bin the share of the valid pixels, the temporal output's share of its E_warp and
the ratio temporal / per-frame inside the bin. A ratio that stays high where nothing moves is
the anchors' cross-fade and the flow's stray motion on flat regions; one that climbs with the
motion is the flow failing on fast motion (the current frame's own stylisation shows there).

    python3 tools/bench_temporal.py ../shared/media/clips/bikes.mp4 --first 10 --frames 48 \
        --width 640 --keep /tmp/tb
    python3 tools/temporal_regions.py /tmp/tb
"""

import argparse
import glob
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_temporal as bt  # noqa: E402

MOTION = [0, 0.5, 1, 2, 4, 8, 16, float("inf")]
TEXTURE = [0, 0.002, 0.005, 0.01, 0.02, float("inf")]


def frames(d, tag):
    paths = sorted(glob.glob(os.path.join(d, tag, "*.png")))
    if not paths:
        sys.exit(f"no frames in {os.path.join(d, tag)}")
    return [bt.load(p) for p in paths]


def split(d):
    src, per, tmp = frames(d, "src"), frames(d, "perframe"), frames(d, "temporal")
    if not len(src) == len(per) == len(tmp):
        sys.exit(f"{d}: {len(src)} / {len(per)} / {len(tmp)} frames")
    n = len(src)
    cuts = {t for t in range(n - 1) if bt.cut_score(src[t], src[t + 1]) >= 0.135}
    fl = bt.Flows(src)
    h, w = src[0].shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    sums = {k: np.zeros((3, len(b) - 1)) for k, b in (("motion", MOTION), ("texture", TEXTURE))}
    for t, (mx, my, valid) in enumerate(fl.pairs):
        if t in cuts:
            continue
        g = cv2.cvtColor(src[t].astype(np.float32), cv2.COLOR_RGB2GRAY)
        sx = cv2.Sobel(g, cv2.CV_32F, 1, 0) / 8
        sy = cv2.Sobel(g, cv2.CV_32F, 0, 1) / 8
        keys = {"motion": np.sqrt((mx - gx) ** 2 + (my - gy) ** 2),
                "texture": cv2.GaussianBlur(sx * sx + sy * sy, (0, 0), 2)}
        errs = []
        for o in (per, tmp):
            warped = cv2.remap(o[t + 1].astype(np.float32), mx, my, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            errs.append(((o[t] - warped) ** 2).sum(-1) / 3)
        for k, bins in (("motion", MOTION), ("texture", TEXTURE)):
            for i in range(len(bins) - 1):
                m = valid & (keys[k] >= bins[i]) & (keys[k] < bins[i + 1])
                sums[k][0, i] += m.sum()
                sums[k][1, i] += errs[0][m].sum()
                sums[k][2, i] += errs[1][m].sum()
    return sums


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("keep", help="the folder bench_temporal.py --keep wrote")
    args = ap.parse_args()
    clips = sorted(d for d in glob.glob(os.path.join(args.keep, "*_*")) if os.path.isdir(d))
    if not clips:
        sys.exit(f"no clip folders in {args.keep}")
    for d in clips:
        sums = split(d)
        cnt, e_per, e_tmp = sums["motion"]
        print(f"{os.path.basename(d)}: E_warp ratio {e_tmp.sum() / e_per.sum():.3f}")
        for k, bins in (("motion", MOTION), ("texture", TEXTURE)):
            cnt, e_per, e_tmp = sums[k]
            unit = "px" if k == "motion" else ""
            for i in range(len(bins) - 1):
                if cnt[i] == 0:
                    continue
                print(f"  {k} {bins[i]:g}-{bins[i + 1]:g}{unit}: pixels {cnt[i] / cnt.sum():6.1%}, "
                      f"share of temporal E_warp {e_tmp[i] / e_tmp.sum():6.1%}, "
                      f"ratio {e_tmp[i] / max(e_per[i], 1e-12):.3f}")


if __name__ == "__main__":
    main()
