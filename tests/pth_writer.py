"""A minimal ``torch.save`` writer for tests (no torch): zip (torch >= 1.6) and legacy layouts.

It reproduces the on-disk format documented by PyTorch's serialization: a pickle whose tensors are
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`` and whose
storages are persistent ids ``('storage', torch.FloatStorage, key, 'cpu', numel)``.
"""
import collections
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

_TYPES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float16): "HalfStorage",
          np.dtype(np.float64): "DoubleStorage", np.dtype(np.int64): "LongStorage"}


@contextlib.contextmanager
def fake_torch():
    """Temporarily registers stand-in ``torch`` / ``torch._utils`` modules so pickle can name their globals."""
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise RuntimeError("stand-in, never called")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    for name in set(_TYPES.values()):
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    try:
        yield torch
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _Tensor:
    def __init__(self, array, key, torch):
        self.array = np.ascontiguousarray(array)
        self.key = key
        self.storage = _StorageRef(getattr(torch, _TYPES[self.array.dtype]), key, self.array.size)
        self.rebuild = torch._utils._rebuild_tensor_v2

    def __reduce__(self):
        shape = self.array.shape
        stride = tuple(int(s // self.array.itemsize) for s in self.array.strides)
        return self.rebuild, (self.storage, 0, shape, stride, False, collections.OrderedDict())


class _StorageRef:
    def __init__(self, storage_type, key, numel):
        self.storage_type, self.key, self.numel = storage_type, key, numel


class _Pickler(pickle.Pickler):
    def __init__(self, f, legacy):
        super().__init__(f, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            pid = ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
            return pid + (None,) if self.legacy else pid
        return None


def _wrap(obj, torch, arrays):
    if isinstance(obj, np.ndarray):
        key = str(len(arrays))
        arrays.append((key, obj))
        return _Tensor(obj, key, torch)
    if isinstance(obj, dict):
        return collections.OrderedDict((k, _wrap(v, torch, arrays)) for k, v in obj.items())
    return obj


def save(obj, path, legacy=False):
    """Writes nested dicts of numpy arrays the way ``torch.save`` does."""
    with fake_torch() as torch:
        arrays = []
        wrapped = _wrap(obj, torch, arrays)
        buf = io.BytesIO()
        _Pickler(buf, legacy).dump(wrapped)
    if legacy:
        with open(path, "wb") as f:
            for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
                pickle.dump(header, f, protocol=2)
            f.write(buf.getvalue())
            pickle.dump([k for k, _ in arrays], f, protocol=2)
            for _, a in arrays:
                f.write(struct.pack("<q", a.size))
                f.write(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes())
        return
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        for key, a in arrays:
            zf.writestr(f"archive/data/{key}", np.ascontiguousarray(a).tobytes())
        zf.writestr("archive/version", "3\n")
