"""Read a PyTorch zip-format checkpoint (e.g. RIFE's flownet.pkl) into NumPy arrays, without torch.

Used by tools/rife_reference.py. Only plain float tensors of a state dict are supported.
Run `python3 tools/rife_pkl.py PATH` to list the tensors (name, shape, dtype).
"""

import collections
import pickle
import sys
import zipfile

import numpy as np

_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}


class _StorageType:
    def __init__(self, name):
        self.name = name


def _rebuild_tensor_v2(storage, offset, size, stride, *_):
    dtype, raw = storage
    item = np.dtype(dtype).itemsize
    base = np.frombuffer(raw, dtype=dtype)
    if len(size) == 0:
        return base[offset].copy()
    view = np.lib.stride_tricks.as_strided(
        base[offset:], shape=tuple(size), strides=tuple(s * item for s in stride)
    )
    return np.array(view)


def _rebuild_parameter(data, *_):
    return data


def load_state_dict(path):
    """Returns {name: np.ndarray} for every tensor in the checkpoint at `path`."""
    zf = zipfile.ZipFile(path)
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("data.pkl")][0]
    root = pkl[: -len("data.pkl")]

    class U(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch._utils" and name == "_rebuild_tensor_v2":
                return _rebuild_tensor_v2
            if module == "torch._utils" and name == "_rebuild_parameter":
                return _rebuild_parameter
            if module == "torch" and name in _DTYPES:
                return _StorageType(name)
            if module == "collections" and name == "OrderedDict":
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"unsupported global {module}.{name}")

        def persistent_load(self, pid):
            _, stype, key, _loc, _numel = pid
            return (_DTYPES[stype.name], zf.read(f"{root}data/{key}"))

    sd = U(zf.open(pkl)).load()
    return {k: np.asarray(v) for k, v in sd.items()}


if __name__ == "__main__":
    sd = load_state_dict(sys.argv[1])
    total = 0
    for k, v in sd.items():
        total += v.size
        print(k, v.shape, v.dtype)
    print("tensors", len(sd), "params", total)
