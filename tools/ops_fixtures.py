"""Generate the op-layer forward fixtures: models/tests/fixtures/ops/ops_fixtures.safetensors.

Each case stores its inputs and the reference output under `<case>.<name>` (float32). The
reference outputs come from onnxruntime running a one-node ONNX graph (Conv, ConvTranspose,
MaxPool, Resize, Pad) or, where ONNX has no matching op (conditional instance norm, fused ReLU),
from a float64 numpy implementation. The case parameters are repeated in
models/tests/ops_forward.rs; change both together.

Run once (results are committed; tests never need Python):
    python3 -m pip install --user numpy onnx onnxruntime safetensors
    python3 tools/ops_fixtures.py
"""

import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "models", "tests", "fixtures", "ops",
                   "ops_fixtures.safetensors")
rng = np.random.default_rng(20261128)
tensors = {}


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def run_node(op, inputs, attrs, extra_inits=None):
    """Run one ONNX node on float32 inputs (dict name -> array), return its output."""
    extra_inits = extra_inits or {}
    ins = [helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in inputs.items()]
    inits = [onnx.numpy_helper.from_array(v, k) for k, v in extra_inits.items()]
    names = list(inputs) + list(extra_inits)
    node = helper.make_node(op, names, ["y"], **attrs)
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([node], op, ins, [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, inputs)[0]


def put(case, **arrays):
    for k, v in arrays.items():
        tensors[f"{case}.{k}"] = np.ascontiguousarray(v, dtype=np.float32)


def conv(case, x, w, b=None, stride=1, pad=0, dil=1, groups=1):
    inputs = {"x": x, "w": w}
    if b is not None:
        inputs["b"] = b
    y = run_node("Conv", inputs, dict(strides=[stride] * 2, pads=[pad] * 4,
                                      dilations=[dil] * 2, group=groups))
    put(case, y=y, **inputs)


def convt(case, x, w, b=None, stride=1, pad=0, out_pad=0, dil=1):
    inputs = {"x": x, "w": w}
    if b is not None:
        inputs["b"] = b
    y = run_node("ConvTranspose", inputs, dict(strides=[stride] * 2, pads=[pad] * 4,
                                               output_padding=[out_pad] * 2, dilations=[dil] * 2))
    put(case, y=y, **inputs)


# --- conv2d -----------------------------------------------------------------------------------
conv("conv_basic", rand(2, 3, 9, 8), rand(4, 3, 3, 3), rand(4), stride=1, pad=1)
conv("conv_s2_mixed", rand(1, 4, 9, 8), rand(6, 4, 3, 3), stride=2, pad=1)
conv("conv_groups_dil", rand(1, 4, 10, 7), rand(4, 2, 3, 3), rand(4), pad=2, dil=2, groups=2)
conv("conv_depthwise_s2", rand(2, 5, 8, 9), rand(5, 1, 3, 3), rand(5), stride=2, pad=1, groups=5)
conv("conv_depthwise_s1", rand(1, 6, 7, 10), rand(6, 1, 5, 5), pad=2, groups=6)
conv("conv_9x9", rand(1, 3, 20, 18), rand(8, 3, 9, 9), rand(8), pad=4)
conv("conv_1x1", rand(1, 6, 5, 7), rand(5, 6, 1, 1), rand(5))
conv("conv_rect_kernel", rand(1, 3, 8, 9), rand(4, 3, 3, 5), pad=2)
conv("conv_s3_nopad", rand(1, 2, 11, 13), rand(3, 2, 4, 4), stride=3)

# --- conv_transpose2d (weight [Cin, Cout, kh, kw]) ---------------------------------------------
convt("convt_s2_outpad", rand(1, 4, 5, 6), rand(4, 3, 3, 3), rand(3), stride=2, pad=1, out_pad=1)
convt("convt_k4_s2", rand(2, 3, 4, 4), rand(3, 2, 4, 4), stride=2, pad=1)
convt("convt_dil2", rand(1, 2, 5, 5), rand(2, 3, 3, 3), dil=2)
convt("convt_1x1", rand(1, 5, 3, 4), rand(5, 2, 1, 1), rand(2))

# --- max_pool2d --------------------------------------------------------------------------------
x = rand(1, 2, 7, 8)
put("pool_k3_s2_p1", x=x, y=run_node("MaxPool", {"x": x}, dict(kernel_shape=[3, 3], strides=[2, 2],
                                                                 pads=[1, 1, 1, 1])))
x = rand(2, 3, 6, 6)
put("pool_k2_s2", x=x, y=run_node("MaxPool", {"x": x}, dict(kernel_shape=[2, 2], strides=[2, 2])))

# --- padding (ONNX Pad; pads = [n0, c0, top, left, n1, c1, bottom, right]) ---------------------
x = rand(1, 2, 5, 6)
for mode in ["reflect", "edge", "constant"]:
    # left 1, right 2, top 3, bottom 0
    pads = np.array([0, 0, 3, 1, 0, 0, 0, 2], dtype=np.int64)
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)]
    node = helper.make_node("Pad", ["x", "p"], ["y"], mode=mode)
    graph = helper.make_graph([node], "pad", ins,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[onnx.numpy_helper.from_array(pads, "p")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    y = ort.InferenceSession(model.SerializeToString(),
                             providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    put(f"pad_{mode}", x=x, y=y)


# --- resize ------------------------------------------------------------------------------------
def resize(case, x, oh, ow, mode, ctm, nearest_mode="floor"):
    sizes = np.array([x.shape[0], x.shape[1], oh, ow], dtype=np.int64)
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)]
    node = helper.make_node("Resize", ["x", "", "", "s"], ["y"], mode=mode,
                            coordinate_transformation_mode=ctm, nearest_mode=nearest_mode)
    graph = helper.make_graph([node], "resize", ins,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[onnx.numpy_helper.from_array(sizes, "s")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    y = ort.InferenceSession(model.SerializeToString(),
                             providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    put(case, x=x, y=y)


resize("nearest_x2", rand(1, 2, 3, 4), 6, 8, "nearest", "asymmetric")
resize("nearest_frac", rand(2, 1, 5, 4), 7, 9, "nearest", "asymmetric")
resize("nearest_down", rand(1, 2, 8, 9), 4, 3, "nearest", "asymmetric")
resize("bilinear_half_pixel", rand(1, 2, 4, 5), 9, 7, "linear", "pytorch_half_pixel")
resize("bilinear_align", rand(1, 2, 4, 5), 9, 7, "linear", "align_corners")
resize("bilinear_down", rand(1, 1, 9, 8), 4, 5, "linear", "pytorch_half_pixel")


# --- instance norm (numpy float64; ONNX has neither per-sample scale nor a fused ReLU) ---------
def inorm(x, g, b, eps):
    x64 = x.astype(np.float64)
    m = x64.mean(axis=(2, 3), keepdims=True)
    v = x64.var(axis=(2, 3), keepdims=True)
    n, c = x.shape[:2]
    g = np.broadcast_to(np.asarray(g, np.float64).reshape(-1, c), (n, c))[:, :, None, None]
    b = np.broadcast_to(np.asarray(b, np.float64).reshape(-1, c), (n, c))[:, :, None, None]
    return (x64 - m) / np.sqrt(v + eps) * g + b


x = rand(2, 3, 5, 6) * 3 + 1
put("inorm_plain", x=x, y=inorm(x, np.ones(3), np.zeros(3), 1e-5))
g, b = rand(3), rand(3)
y_onnx = run_node("InstanceNormalization", {"x": x, "g": g, "b": b}, dict(epsilon=1e-5))
put("inorm_affine", x=x, g=g, b=b, y=y_onnx)
g2, b2 = rand(2, 3), rand(2, 3)
put("inorm_cond", x=x, g=g2, b=b2, y=inorm(x, g2, b2, 1e-5))
put("inorm_cond_relu", x=x, g=g2, b=b2, y=np.maximum(inorm(x, g2, b2, 1e-3), 0.0))

os.makedirs(os.path.dirname(OUT), exist_ok=True)
save_file(tensors, OUT)
print(f"wrote {len(tensors)} tensors to {os.path.normpath(OUT)} "
      f"({os.path.getsize(OUT) / 1024:.1f} KiB)")
