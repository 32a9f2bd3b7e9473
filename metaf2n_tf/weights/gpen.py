"""GPEN-BFR weights: the upstream ``.pth`` -> the Keras model of ``metaf2n_tf.models.gpen``, key by key.

Names: a model variable ``v`` of layer ``l`` is the upstream key ``f"{l.name}.{v.name}"``.

Layouts (upstream PyTorch -> Keras):

| upstream module (key)                     | .pth shape          | Keras shape          |
| EqualConv2d (``ecd*.weight``)              | [out, in, k, k]     | [k, k, in, out]      |
| ModulatedConv2d (``*.conv.weight``)        | [1, out, in, k, k]  | [k, k, in, out]      |
| EqualLinear (``*.weight``)                 | [out, in]           | [in, out]            |
| ConstantInput (``generator.input.input``)  | [1, C, 4, 4]        | [1, 4, 4, C]         |
| ToRGB bias (``generator.to_rgb*.bias``)    | [1, 3, 1, 1]        | [3]                  |
| biases, noise weights                      | unchanged           | unchanged            |

The FIR buffers (``*.kernel`` of Blur / Upsample) are constants of the architecture: when the file
has them they must equal the model's, otherwise they are rebuilt. There are no noise buffers: at
inference GPEN injects its encoder features where StyleGAN2 would inject noise, so nothing random
is read or drawn.

The project's converted format is an HDF5 file written with h5py: one float32 dataset per upstream
key holding the Keras-layout array, and root attributes ``format`` (= ``FORMAT``), ``size``,
``channel_multiplier``, ``narrow``, ``style_dim``, ``n_mlp`` (the builder's arguments).
"""
import re

import numpy as np

from metaf2n_tf.errors import WeightsError
from metaf2n_tf.models import gpen as gpen_model
from metaf2n_tf.weights import h5
from metaf2n_tf.weights.assign import assign_checked, check_names, check_shape
from metaf2n_tf.weights.network_file import load_network

FORMAT = "metaf2n_tf-gpen-v1"
ARCH_KEYS = ("size", "channel_multiplier", "narrow", "style_dim", "n_mlp")


def _identity(a):
    return a


# (layer class, variable name) -> (torch -> keras, keras -> torch). Missing entries: unchanged.
_LAYOUTS = {
    (gpen_model.EqualConv2d, "weight"): (lambda a: a.transpose(2, 3, 1, 0), lambda a: a.transpose(3, 2, 0, 1)),
    (gpen_model.ModulatedConv2d, "weight"): (
        lambda a: a[0].transpose(2, 3, 1, 0),
        lambda a: a.transpose(3, 2, 0, 1)[None],
    ),
    (gpen_model.EqualLinear, "weight"): (lambda a: a.T, lambda a: a.T),
    (gpen_model.ConstantInput, "input"): (lambda a: a.transpose(0, 2, 3, 1), lambda a: a.transpose(0, 3, 1, 2)),
    (gpen_model.Bias, "bias"): (lambda a: a.reshape(-1), lambda a: a.reshape(1, -1, 1, 1)),
}


def _layout(layer, var):
    return _LAYOUTS.get((type(layer), var.name), (_identity, _identity))


def model_variables(model):
    """Yields ``(upstream_key, layer, variable)`` for every weight of a GPEN model."""
    for layer in model.layers:
        for var in layer.weights:
            yield f"{layer.name}.{var.name}", layer, var


def model_buffers(model):
    """``{upstream_key: value}`` of the FIR kernels the upstream model keeps as buffers."""
    return {f"{l.name}.kernel": l.kernel for l in model.layers if isinstance(l, gpen_model.UpFirDn2d)}


def torch_shapes(model):
    """``{upstream_key: shape}`` the model expects in a ``.pth`` (parameters and buffers)."""
    shapes = {}
    for key, layer, var in model_variables(model):
        shapes[key] = _layout(layer, var)[1](np.broadcast_to(np.float32(0), var.shape)).shape
    shapes.update({k: v.shape for k, v in model_buffers(model).items()})
    return shapes


def _count_indices(tensors, pattern):
    return {int(m.group(1)) for k in tensors if (m := re.match(pattern, k))}


def _shape_of(tensors, key, source):
    if key not in tensors:
        raise WeightsError(f"{source}: key '{key}' missing: not a GPEN FullGenerator state dict")
    return tuple(tensors[key].shape)


def arch_from_torch(tensors, source):
    """Reads the builder's arguments (size, channel_multiplier, narrow, style_dim, n_mlp) from a state dict."""
    encoders = _count_indices(tensors, r"^ecd(\d+)\.")
    if not encoders or encoders != set(range(len(encoders))):
        raise WeightsError(f"{source}: encoder layers ecd0..ecdN expected, got indices {sorted(encoders)[:8]}")
    size = 2 ** (len(encoders) + 1)
    base = _shape_of(tensors, "generator.input.input", source)[1]
    narrow = base / 512
    channel_multiplier = 1
    if size >= 64:  # ecd{n} outputs size / 2**n; the 64x64 one is the first that depends on the multiplier
        n = int(np.log2(size)) - 6
        ch64 = _shape_of(tensors, "ecd0.0.0.weight" if n == 0 else f"ecd{n}.0.1.weight", source)[0]
        channel_multiplier = max(1, int(round(ch64 / (256 * narrow))))
    mlp = _count_indices(tensors, r"^generator\.style\.(\d+)\.weight$")
    style_dim = _shape_of(tensors, "final_linear.0.weight", source)[0]
    return {"size": size, "channel_multiplier": channel_multiplier, "narrow": narrow,
            "style_dim": style_dim, "n_mlp": len(mlp)}


def torch_to_keras(model, tensors, source):
    """Checks a GPEN state dict key by key against ``model`` and returns ``{key: Keras-layout array}``.

    Raises ``WeightsError`` naming the first missing, extra or mis-shaped key, or a FIR buffer whose
    value differs from the architecture's.
    """
    shapes = torch_shapes(model)
    buffers = model_buffers(model)
    check_names(tensors, shapes, source, noun="key", optional=buffers)
    for key, value in tensors.items():
        check_shape(key, value, shapes[key], source)
    for key, kernel in buffers.items():
        if key in tensors and not np.allclose(tensors[key], kernel, rtol=0, atol=1e-6):
            raise WeightsError(f"{source}: buffer '{key}' differs from the {len(kernel)}-tap blur kernel expected")
    return {
        key: np.ascontiguousarray(_layout(layer, var)[0](np.asarray(tensors[key], np.float32)))
        for key, layer, var in model_variables(model)
    }


def keras_to_torch(model):
    """The model's weights as an upstream state dict ``{key: array}`` (buffers included)."""
    out = {key: np.ascontiguousarray(_layout(layer, var)[1](np.asarray(var.numpy()))) for key, layer, var in
           model_variables(model)}
    out.update(model_buffers(model))
    return out


def set_gpen_weights(model, tensors, source):
    """Assigns Keras-layout ``{key: array}`` to ``model``; fails on a missing, extra or mis-shaped key."""
    assign_checked({key: var for key, _, var in model_variables(model)}, tensors, source, noun="key")


def get_gpen_weights(model):
    """The model's weights as Keras-layout ``{key: array}``."""
    return {key: np.asarray(var.numpy()) for key, _, var in model_variables(model)}


def build(arch):
    """Builds the GPEN model described by an ``arch`` dict (the builder's keyword arguments)."""
    try:
        return gpen_model.gpen(**arch)
    except ValueError as e:
        raise WeightsError(f"weights describe an unsupported GPEN: {e}") from None


def save_h5(path, model, arch):
    """Writes the converted format (see the module docstring)."""
    return h5.write_h5(path, get_gpen_weights(model), FORMAT, {name: arch[name] for name in ARCH_KEYS})


def load_gpen(path):
    """Loads GPEN weights from an upstream ``.pth`` or a converted ``.h5``; returns ``(model, arch)``."""
    return load_network(path, FORMAT, ARCH_KEYS, "GPEN", build, set_gpen_weights, arch_from_torch, torch_to_keras)


def convert_pth(pth_path, h5_path):
    """Converts an upstream GPEN ``.pth`` to the project's ``.h5``; returns the architecture found."""
    model, arch = load_gpen(pth_path)
    save_h5(h5_path, model, arch)
    return arch
