"""Reads PyTorch ``.pth`` files without torch and without running any code from the file.

``torch.save`` writes a pickle whose tensors point at raw storages. The unpickler below rebuilds
only what a state dict needs (tensors, parameters, ordered dicts); any other global the pickle asks
for -- ``os.system``, ``builtins.eval``, a class from an unknown module -- is refused with
``WeightsError`` before it can be called, so a malicious file runs nothing.

Both layouts torch has used are read: the zip archive (torch >= 1.6) and the legacy stream of
pickles (e.g. ``lpips/weights/v0.1/alex.pth``).
"""
import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from metaf2n_tf.errors import WeightsError

# torch storage class name -> numpy dtype.
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": None,  # handled separately: numpy has no bfloat16
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends while unpickling."""

    def __init__(self, name):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]
        self.itemsize = 2 if name == "BFloat16Storage" else np.dtype(self.dtype).itemsize

    def from_bytes(self, raw, count=None):
        if self.name == "BFloat16Storage":
            u16 = np.frombuffer(raw, dtype="<u2", count=-1 if count is None else count)
            return (u16.astype(np.uint32) << 16).view(np.float32)
        return np.frombuffer(raw, dtype=np.dtype(self.dtype).newbyteorder("<"), count=-1 if count is None else count)


class _Storage:
    """A flat array filled in later (legacy format) or at once (zip format)."""

    def __init__(self, storage_type, data=None):
        self.storage_type = storage_type
        self.data = data


class _LazyTensor:
    """A tensor whose storage may still be unread (the legacy format stores data after the pickle)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self, path):
        data = self.storage.data
        if data is None:
            raise WeightsError(f"{path}: a tensor's storage was never written (truncated file?)")
        if any(s == 0 for s in self.size):
            return np.zeros(self.size, dtype=data.dtype)
        needed = self.offset + 1 + sum((s - 1) * st for s, st in zip(self.size, self.stride))
        if needed > data.size:
            raise WeightsError(f"{path}: tensor of shape {self.size} reads past its storage ({data.size} values)")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(st * data.dtype.itemsize for st in self.stride),
            writeable=False,
        )
        return np.array(view)


def _rebuild_tensor(storage, offset, size, stride, *unused):
    if not isinstance(storage, _Storage):
        raise WeightsError(f"tensor built from {type(storage).__name__}, expected a storage")
    return _LazyTensor(storage, offset, size, stride)


def _materialize(obj, path):
    if isinstance(obj, _LazyTensor):
        return obj.materialize(path)
    if isinstance(obj, dict):
        return type(obj)((k, _materialize(v, path)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v, path) for v in obj)
    return obj


def _rebuild_parameter(tensor, requires_grad=None, backward_hooks=None, *unused):
    return tensor


def _rebuild_from_type_v2(func, new_type, args, state):
    return func(*args)


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the handful of globals a state dict needs; everything else is refused."""

    _ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): object,
        ("torch.nn.parameter", "Parameter"): object,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
    }

    def __init__(self, file, path, load_storage):
        super().__init__(file)
        self._path = path
        self._load_storage = load_storage
        self.storages = {}

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        raise WeightsError(f"{self._path}: refuses to load global '{module}.{name}' (only tensors are read)")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise WeightsError(f"{self._path}: unknown persistent id {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise WeightsError(f"{self._path}: unsupported storage type {storage_type!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type, self._load_storage(key, storage_type, pid))
        return self.storages[key]


def _load_zip(path, zf):
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if not pkl:
        raise WeightsError(f"{path}: zip archive without data.pkl, not a torch file")
    root = pkl[0][: -len("data.pkl")]

    def load_storage(key, storage_type, pid):
        member = f"{root}data/{key}"
        try:
            raw = zf.read(member)
        except KeyError:
            raise WeightsError(f"{path}: storage '{member}' missing from the archive") from None
        return storage_type.from_bytes(raw)

    return _RestrictedUnpickler(io.BytesIO(zf.read(pkl[0])), path, load_storage).load()


def _load_legacy(path, f):
    def unpickler():
        return _RestrictedUnpickler(f, path, lambda key, storage_type, pid: None)

    try:
        magic = unpickler().load()
        if magic != _LEGACY_MAGIC:
            raise WeightsError(f"{path}: not a torch .pth file (bad magic number)")
        unpickler().load()  # protocol version
        unpickler().load()  # sys info (endianness, type sizes)
        main = unpickler()
        obj = main.load()
        keys = unpickler().load()
        for key in keys:
            storage = main.storages.get(str(key))
            if storage is None:
                raise WeightsError(f"{path}: storage {key} listed but never used")
            (count,) = struct.unpack("<q", f.read(8))
            raw = f.read(count * storage.storage_type.itemsize)
            if len(raw) != count * storage.storage_type.itemsize:
                raise WeightsError(f"{path}: truncated storage {key}")
            storage.data = storage.storage_type.from_bytes(raw, count)
    except (pickle.UnpicklingError, EOFError, struct.error) as e:
        raise WeightsError(f"{path}: not a readable torch .pth file ({e})") from None
    return obj


def load_pth(path):
    """Loads a ``torch.save`` file into nested dicts / lists of numpy arrays, running no code from it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: file not found")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                try:
                    return _materialize(_load_zip(path, zf), path)
                except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile) as e:
                    raise WeightsError(f"{path}: not a readable torch .pth file ({e})") from None
        with open(path, "rb") as f:
            return _materialize(_load_legacy(path, f), path)
    except WeightsError:
        raise
    except (OSError, ValueError, TypeError, IndexError, AttributeError) as e:
        raise WeightsError(f"{path}: not a readable torch .pth file ({type(e).__name__}: {e})") from None


def state_dict(obj, path, keys=("params_ema", "params", "state_dict")):
    """Picks the state dict out of a loaded ``.pth``: the first of ``keys`` present, else the dict itself."""
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    for key in keys:
        if key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, np.ndarray)}
    if not tensors:
        raise WeightsError(f"{path}: no tensors found (looked for {', '.join(keys)} or a bare state dict)")
    return tensors
