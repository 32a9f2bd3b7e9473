"""The project's own weights file: HDF5 datasets named by the canonical TF1 names (HWIO kernels).

One file holds the SR model (``MODEL/*``) and, when present, MaskNet (``Mask/*``). The names make it
readable with any HDF5 tool and independent of Keras' internal layer numbering.
"""
import os

import h5py
import numpy as np

from metaf2n_tf.errors import WeightsError

FORMAT = "metaf2n_tf-weights-v1"


def write_h5(path, tensors):
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = FORMAT
        for name in sorted(tensors):
            f.create_dataset(name, data=np.asarray(tensors[name], dtype=np.float32))
    return path


def is_weights_h5(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def read_h5(path):
    path = os.fspath(path)
    tensors = {}
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise WeightsError(f"{path}: HDF5 file is not a metaf2n_tf weights file (format attribute missing)")
            f.visititems(lambda name, obj: tensors.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    except OSError as e:
        raise WeightsError(f"{path}: unreadable HDF5 file ({e})") from None
    return tensors
