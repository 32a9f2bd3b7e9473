"""The face-api.js 68-point landmark net's weights: a TensorFlow.js weights manifest -> the Keras model.

The format (TensorFlow.js "weights manifest"): a JSON list of weight groups. Each group names its
binary shard files (``paths``, read one after the other as one byte string) and its tensors
(``weights``: ``name``, ``shape``, ``dtype`` and, when quantised, ``quantization``). Tensors lie back to
back in manifest order. A ``float32`` tensor takes 4 bytes a value (little-endian); a tensor quantised
to ``uint8`` (or ``uint16``) takes 1 (or 2) bytes a value ``q`` and means ``q · scale + min`` with the
``scale`` and ``min`` of its ``quantization`` entry.

Names: the manifest's ``{block}/{conv}/{variable}`` is layer ``{block}_{conv}`` of
``metaf2n_tf.models.face_landmark68`` (``fc/weights`` is layer ``fc``), its variables renamed
``filters`` -> ``kernel``, ``depthwise_filter`` -> ``depthwise_kernel``, ``pointwise_filter`` ->
``pointwise_kernel``, ``weights`` -> ``kernel``; ``bias`` stays. The layouts already are Keras's:
[k, k, in, out], depthwise [k, k, in, 1], pointwise [1, 1, in, out], dense [in, out].

The weights ship inside the package (``metaf2n_tf/assets/face_landmark_68/``, MIT, from the npm package
``@vladmandic/face-api`` 1.7.15; see the README there); :func:`load_face_landmark68` checks their
sha256 digests before use.
"""
import functools
import hashlib
import json
import os

import numpy as np

from metaf2n_tf.errors import WeightsError
from metaf2n_tf.models.face_landmark68 import face_landmark68
from metaf2n_tf.weights.assign import assign_checked

ASSET_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "face_landmark_68")
MANIFEST = "face_landmark_68_model-weights_manifest.json"
SHARD = "face_landmark_68_model.bin"
SHA256 = {
    MANIFEST: "ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9",
    SHARD: "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b",
}
_STORED = {"float32": np.dtype("<f4"), "uint8": np.dtype("u1"), "uint16": np.dtype("<u2")}
_VARIABLES = {"filters": "kernel", "depthwise_filter": "depthwise_kernel", "pointwise_filter": "pointwise_kernel",
              "weights": "kernel", "bias": "bias"}


def check_sha256(path, expected):
    """WeightsError unless the file at ``path`` exists and has the sha256 digest ``expected``."""
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: file not found (it ships with metaf2n_tf; reinstall the package)")
    with open(path, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    if got != expected:
        raise WeightsError(f"{path}: sha256 {got[:16]}..., expected {expected[:16]}... (the file was changed)")


def _tensor_spec(entry, manifest_path):
    """(name, shape, stored dtype, scale, min) of one manifest entry; WeightsError when unsupported."""
    try:
        name, shape = str(entry["name"]), tuple(int(d) for d in entry["shape"])
        quant = entry.get("quantization")
        if quant is None:
            stored, scale, low = entry.get("dtype", "float32"), 1.0, 0.0
        else:
            stored, scale, low = quant["dtype"], float(quant["scale"]), float(quant["min"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise WeightsError(f"{manifest_path}: malformed weight entry {str(entry)[:80]}") from None
    if stored not in _STORED:
        raise WeightsError(f"{manifest_path}: '{name}' is stored as {stored}, expected one of {', '.join(_STORED)}")
    return name, shape, _STORED[stored], scale, low


def read_manifest(manifest_path):
    """Reads a TensorFlow.js weights manifest and its shards -> ``{manifest name: float32 array}``."""
    manifest_path = os.fspath(manifest_path)
    try:
        with open(manifest_path, encoding="utf-8") as f:
            groups = json.load(f)
    except OSError as e:
        raise WeightsError(f"{manifest_path}: cannot read the weights manifest ({e.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WeightsError(f"{manifest_path}: not a JSON weights manifest") from None
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise WeightsError(f"{manifest_path}: expected a JSON list of weight groups")
    folder = os.path.dirname(manifest_path)
    tensors = {}
    for group in groups:
        data = b""
        for shard in group.get("paths", []):
            path = os.path.join(folder, str(shard))
            try:
                with open(path, "rb") as f:
                    data += f.read()
            except OSError as e:
                raise WeightsError(f"{path}: cannot read a weights shard ({e.strerror})") from None
        offset = 0
        for entry in group.get("weights", []):
            name, shape, stored, scale, low = _tensor_spec(entry, manifest_path)
            size = int(np.prod(shape, dtype=np.int64)) * stored.itemsize
            if offset + size > len(data):
                raise WeightsError(f"{manifest_path}: shards end at byte {len(data)}, '{name}' needs bytes "
                                   f"{offset}..{offset + size}")
            values = np.frombuffer(data, stored, size // stored.itemsize, offset).astype(np.float64)
            tensors[name] = (values * scale + low).astype(np.float32).reshape(shape)
            offset += size
        if offset != len(data):
            raise WeightsError(f"{manifest_path}: {len(data) - offset} bytes of the shards left after the last weight")
    return tensors


def keras_name(manifest_name):
    """``dense0/conv1/depthwise_filter`` -> ``dense0_conv1/depthwise_kernel`` (layer/variable of the model)."""
    *scope, variable = manifest_name.split("/")
    return f"{'_'.join(scope)}/{_VARIABLES.get(variable, variable)}"


def model_variables(model):
    """``{layer/variable: variable}`` of a built :func:`face_landmark68` model."""
    return {"/".join(var.path.split("/")[-2:]): var for var in model.weights}


def set_face_landmark68_weights(model, tensors, source):
    """Assigns manifest-named tensors to the model; fails on a missing, extra or mis-shaped tensor."""
    assign_checked(model_variables(model), {keras_name(k): v for k, v in tensors.items()}, source)


@functools.lru_cache(maxsize=1)
def load_face_landmark68():
    """The net with the shipped weights, their sha256 digests checked first (built once per process)."""
    for file, digest in SHA256.items():
        check_sha256(os.path.join(ASSET_DIR, file), digest)
    manifest = os.path.join(ASSET_DIR, MANIFEST)
    model = face_landmark68()
    set_face_landmark68_weights(model, read_manifest(manifest), manifest)
    return model
