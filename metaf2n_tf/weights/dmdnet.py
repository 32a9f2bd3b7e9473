"""DMDNet weights: the upstream ``.pth`` -> the Keras model of ``metaf2n_tf.models.dmdnet``, key by key.

The released state dict has 1014 entries (150,834,266 values): for each of the 249 spectrally
normalised convolutions ``{module}.weight_orig``, ``.bias`` and the buffers ``.weight_u``,
``.weight_v``; and 18 generic dictionaries ``{le,re,mo}_{256,128,64}_mem_{key,value}``. All of them
are read: the buffers ``u`` and ``v`` are part of the eval-mode weight (``weight_orig / (u · W v)``).

Names: a model variable ``v`` of layer ``l`` is the upstream key ``f"{l.name}.{v.name}"``, except the
dictionaries (layer ``le_256_mem``, variables ``key`` / ``value``), joined with ``_``.

Layouts (upstream PyTorch -> Keras):

| upstream tensor                      | .pth shape         | Keras shape        |
| ``*.weight_orig``                    | [out, in, k, k]    | [k, k, in, out]    |
| ``*_mem_key`` / ``*_mem_value``      | [M, C, S, S]       | [M, S, S, C]       |
| ``*.bias``, ``*.weight_u``, ``*.weight_v`` | unchanged    | unchanged          |

The converted format is an HDF5 file (h5py): one float32 dataset per upstream key holding the
Keras-layout array, and root attributes ``format`` (= ``FORMAT``), ``ngf``, ``entries``,
``eye_size``, ``mouth_size`` (the builder's arguments).
"""

import numpy as np

from metaf2n_tf.errors import WeightsError
from metaf2n_tf.models import dmdnet as dmdnet_model
from metaf2n_tf.weights import h5
from metaf2n_tf.weights.assign import assign_checked, check_names, check_shape
from metaf2n_tf.weights.network_file import load_network

FORMAT = "metaf2n_tf-dmdnet-v1"
ARCH_KEYS = ("ngf", "entries", "eye_size", "mouth_size")


def _identity(a):
    return a


# variable name -> (torch -> keras, keras -> torch); other variables are unchanged.
_LAYOUTS = {
    "weight_orig": (lambda a: a.transpose(2, 3, 1, 0), lambda a: a.transpose(3, 2, 0, 1)),
    "key": (lambda a: a.transpose(0, 2, 3, 1), lambda a: a.transpose(0, 3, 1, 2)),
    "value": (lambda a: a.transpose(0, 2, 3, 1), lambda a: a.transpose(0, 3, 1, 2)),
}


def _layout(var_name):
    return _LAYOUTS.get(var_name, (_identity, _identity))


def model_variables(model):
    """Yields ``(upstream_key, variable)`` for every weight and buffer of a DMDNet model."""
    for var in model.weights:
        layer, name = var.path.split("/")[-2:]
        joint = "_" if name in ("key", "value") else "."
        yield f"{layer}{joint}{name}", var


def torch_shapes(model):
    """``{upstream_key: shape}`` the model expects in a ``.pth``."""
    return {key: _layout(var.name)[1](np.broadcast_to(np.float32(0), var.shape)).shape
            for key, var in model_variables(model)}


def _shape_of(tensors, key, source):
    if key not in tensors:
        raise WeightsError(f"{source}: key '{key}' missing: not a DMDNet state dict")
    return tuple(tensors[key].shape)


def arch_from_torch(tensors, source):
    """Reads the builder's arguments (ngf, entries, eye and mouth crop sides) from a state dict."""
    ngf = _shape_of(tensors, "E_lq.conv1.0.weight_orig", source)[0]
    eye = _shape_of(tensors, "le_256_mem_key", source)
    mouth = _shape_of(tensors, "mo_256_mem_key", source)
    if len(eye) != 4 or len(mouth) != 4:
        raise WeightsError(f"{source}: 'le_256_mem_key' has shape {eye}, expected [entries, C, S, S]")
    # Only the crops at 1/2, 1/4, 1/8 matter; 2·S at 1/2 reproduces them whenever the file is consistent.
    return {"ngf": int(ngf), "entries": int(eye[0]), "eye_size": 2 * int(eye[-1]), "mouth_size": 2 * int(mouth[-1])}


def torch_to_keras(model, tensors, source):
    """Checks a DMDNet state dict key by key against ``model``; returns ``{key: Keras-layout array}``.

    Raises ``WeightsError`` naming the first missing, extra or mis-shaped key.
    """
    shapes = torch_shapes(model)
    check_names(tensors, shapes, source, noun="key")
    for key, shape in shapes.items():
        check_shape(key, tensors[key], shape, source)
    return {key: np.ascontiguousarray(_layout(var.name)[0](np.asarray(tensors[key], np.float32)))
            for key, var in model_variables(model)}


def keras_to_torch(model):
    """The model's weights and buffers as an upstream state dict ``{key: array}``."""
    return {key: np.ascontiguousarray(_layout(var.name)[1](np.asarray(var.numpy())))
            for key, var in model_variables(model)}


def set_dmdnet_weights(model, tensors, source):
    """Assigns Keras-layout ``{key: array}`` to ``model``; fails on a missing, extra or mis-shaped key."""
    assign_checked(dict(model_variables(model)), tensors, source, noun="key")


def get_dmdnet_weights(model):
    """The model's weights as Keras-layout ``{key: array}``."""
    return {key: np.asarray(var.numpy()) for key, var in model_variables(model)}


def build(arch):
    """Builds the DMDNet described by an ``arch`` dict (see ``ARCH_KEYS``)."""
    try:
        return dmdnet_model.dmdnet(ngf=arch["ngf"], entries=arch["entries"],
                                   part_sizes=(arch["eye_size"], arch["mouth_size"]))
    except ValueError as e:
        raise WeightsError(f"weights describe an unsupported DMDNet: {e}") from None


def save_h5(path, model, arch):
    """Writes the converted format (see the module docstring); same signature as ``weights.gpen.save_h5``."""
    return h5.write_h5(path, get_dmdnet_weights(model), FORMAT, {name: arch[name] for name in ARCH_KEYS})


def model_arch(model):
    """The ``arch`` dict of a built model."""
    return {"ngf": model.ngf, "entries": model.entries, "eye_size": model.part_sizes[0],
            "mouth_size": model.part_sizes[1]}


def load_dmdnet(path):
    """Loads DMDNet from an upstream ``.pth`` (CPU- or GPU-saved) or a converted ``.h5``; returns
    ``(model, arch)`` with the architecture read back from the built model."""
    model, _ = load_network(path, FORMAT, ARCH_KEYS, "DMDNet", build, set_dmdnet_weights, arch_from_torch,
                            torch_to_keras)
    return model, model_arch(model)


def convert_pth(pth_path, h5_path):
    """Converts an upstream DMDNet ``.pth`` to the project's ``.h5``; returns the architecture found."""
    model, arch = load_dmdnet(pth_path)
    save_h5(h5_path, model, arch)
    return arch
