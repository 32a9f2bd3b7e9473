"""HDF5 weight files of this project: one dataset per weight name, a format tag, optional attributes.

The SR/MaskNet file (format ``metaf2n_tf-weights-v1``) names its datasets by the canonical TF1 names
(``MODEL/*`` and, when present, ``Mask/*``; HWIO kernels), so it is readable with any HDF5 tool and
independent of Keras' internal layer numbering. The GPEN and DMDNet converted files use the same
functions with their own format tags and architecture attributes.
"""
import os

import h5py
import numpy as np

from metaf2n_tf.errors import WeightsError

FORMAT = "metaf2n_tf-weights-v1"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def is_weights_h5(path):
    """True for an existing HDF5 file (checked by its signature, not its name)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return f.read(8) == HDF5_MAGIC


def write_h5(path, tensors, format=FORMAT, attrs=None):
    """Writes ``{name: array}`` as float32 datasets plus the ``format`` tag and ``attrs``."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = format
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        for name in sorted(tensors):
            f.create_dataset(name, data=np.asarray(tensors[name], dtype=np.float32))
    return path


def read_h5(path, format=FORMAT, attr_keys=(), what="a metaf2n_tf weights file", optional_keys=()):
    """Reads a file written by :func:`write_h5`; returns ``(tensors, attrs)`` with ``attr_keys`` required and
    those of ``optional_keys`` the file has."""
    path = os.fspath(path)
    tensors = {}

    def collect(name, obj):
        if isinstance(obj, h5py.Dataset):
            tensors[name] = obj[()]

    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != format:
                raise WeightsError(f"{path}: HDF5 file without format '{format}', not {what}")
            missing = [a for a in attr_keys if a not in f.attrs]
            if missing:
                raise WeightsError(f"{path}: attribute '{missing[0]}' missing, not {what}")
            attrs = {a: np.asarray(f.attrs[a]).item() for a in (*attr_keys, *optional_keys) if a in f.attrs}
            f.visititems(collect)
    except OSError as e:
        raise WeightsError(f"{path}: unreadable HDF5 file ({e})") from None
    return tensors, attrs
