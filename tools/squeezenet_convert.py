#!/usr/bin/env python3
"""Convert the ncnn SqueezeNet v1.1 model (.param text graph + .bin raw weights) to safetensors.

Usage (standard library only, no numpy needed):
    python3 tools/squeezenet_convert.py \
        ../shared/weights/squeezenet-1.1/squeezenet_v1.1.param \
        ../shared/weights/squeezenet-1.1/squeezenet_v1.1.bin \
        models/weights/squeezenet1_1.safetensors

ncnn .bin layout (ncnn ModelBinFromDataReader): the blobs of every layer with weights, in the
order the layers appear in the .param. For a Convolution layer, the weight blob is loaded with
type 0 ("auto"), which is preceded by a 4-byte flag tag: 0 = raw float32 follows (0x01306B47 =
float16, 0x000D4B38 = int8, anything else = quantised table; this converter accepts only float32
and rejects the rest). Then the bias blob (when bias_term, param 5=1) is loaded with type 1: raw
float32, no tag. Weights are [num_output, in_channels, k, k] row-major, i.e. OIHW, the layout
Candle's conv2d takes.

Output names: `<layer>.weight` / `<layer>.bias` with ncnn's `fireN/squeeze1x1` turned into
`fireN.squeeze1x1` (conv1, fire2..fire9 .{squeeze1x1,expand1x1,expand3x3}, conv10).
The converter checks the whole .bin is consumed exactly.
"""
import json
import re
import struct
import sys


def parse_param(path):
    convs = []
    with open(path, encoding="utf-8") as f:
        magic = int(f.readline())
        if magic != 7767517:
            raise SystemExit(f"{path}: not an ncnn .param file (magic {magic})")
        n_layers, _ = (int(v) for v in f.readline().split())
        for _ in range(n_layers):
            parts = f.readline().split()
            kind, name = parts[0], parts[1]
            n_in, n_out = int(parts[2]), int(parts[3])
            params = dict(re.findall(r"(-?\d+)=(\S+)", " ".join(parts[4 + n_in + n_out:])))
            if kind == "Convolution":
                convs.append((name, params))
            elif kind in ("ConvolutionDepthWise", "InnerProduct", "BatchNorm", "Scale"):
                raise SystemExit(f"layer type {kind} not handled by this converter")
    return convs


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    param, binp, out = sys.argv[1:]
    data = open(binp, "rb").read()
    off = 0
    tensors = {}
    for name, p in parse_param(param):
        num_out = int(p["0"])
        k = int(p["1"])
        bias_term = int(p.get("5", "0"))
        wsize = int(p["6"])
        cin = wsize // (num_out * k * k)
        if cin * num_out * k * k != wsize:
            raise SystemExit(f"{name}: weight size {wsize} not divisible into {num_out}x?x{k}x{k}")
        (flag,) = struct.unpack_from("<I", data, off)
        off += 4
        if flag != 0:
            raise SystemExit(f"{name}: weight flag tag {flag:#x} is not raw float32")
        key = name.replace("/", ".")
        tensors[key + ".weight"] = ([num_out, cin, k, k], data[off:off + 4 * wsize])
        off += 4 * wsize
        if bias_term:
            tensors[key + ".bias"] = ([num_out], data[off:off + 4 * num_out])
            off += 4 * num_out
    if off != len(data):
        raise SystemExit(f"consumed {off} of {len(data)} bytes: layout mismatch")
    for key, (_, raw) in tensors.items():
        vals = struct.unpack(f"<{len(raw) // 4}f", raw)
        if not all(v == v and abs(v) != float("inf") for v in vals):
            raise SystemExit(f"{key}: non-finite values")
    header = {"__metadata__": {"source": "ncnn squeezenet_v1.1 (BSD-2-Clause, Iandola et al.)",
                               "input": "227x227 BGR 0..255 minus mean [104,117,123]"}}
    blob = b""
    for key in sorted(tensors):
        shape, raw = tensors[key]
        header[key] = {"dtype": "F32", "shape": shape,
                       "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        f.write(blob)
    print(f"wrote {out}: {len(tensors)} tensors, {len(blob) // 4} floats")


if __name__ == "__main__":
    main()
