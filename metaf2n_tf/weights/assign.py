"""Puts named arrays into Keras models and takes them out again, checking every tensor."""
import re

import numpy as np

from metaf2n_tf.errors import WeightsError
from metaf2n_tf.weights.names import MASK_SCOPE, RRDB_BLOCK, SR_SCOPE, model_tf1_names


def split_scopes(tensors):
    """Splits canonical tensors into (SR ``MODEL/*``, MaskNet ``Mask/*``); other names are dropped."""
    sr = {k: v for k, v in tensors.items() if k.startswith(SR_SCOPE + "/")}
    mask = {k: v for k, v in tensors.items() if k.startswith(MASK_SCOPE + "/")}
    return sr, mask


def sr_arch(sr_tensors, source):
    """Reads (num_block, num_feat, num_grow_ch) of RRDBNet from its weights."""
    blocks = {int(m.group(1)) for k in sr_tensors if (m := RRDB_BLOCK.match(k))}
    first = sr_tensors.get("MODEL/conv_first/weight")
    grow = sr_tensors.get("MODEL/body/0/rdb1/conv1/weight")
    if first is None:
        raise WeightsError(f"{source}: no 'MODEL/conv_first/weight' (conv_first.weight): not RRDBNet weights")
    if grow is None:
        raise WeightsError(f"{source}: no 'MODEL/body/0/rdb1/conv1/weight' (body.0.rdb1.conv1.weight)")
    if blocks != set(range(len(blocks))):
        missing = sorted(set(range(max(blocks) + 1)) - blocks)
        raise WeightsError(f"{source}: RRDB block {missing[0]} missing (blocks found: {len(blocks)})")
    return len(blocks), int(first.shape[-1]), int(grow.shape[-1])


def check_names(found, expected, source, noun="tensor", optional=()):
    """Fails on the first name of ``expected`` missing from ``found`` (unless optional) or extra in it."""
    missing = [n for n in expected if n not in found and n not in optional]
    extra = [n for n in found if n not in expected]
    if missing:
        raise WeightsError(f"{source}: {len(missing)} {noun}(s) missing, first '{missing[0]}'")
    if extra:
        raise WeightsError(f"{source}: {len(extra)} unexpected {noun}(s), first '{extra[0]}'")


def check_shape(name, value, shape, source):
    if tuple(np.shape(value)) != tuple(shape):
        raise WeightsError(f"{source}: '{name}' has shape {tuple(np.shape(value))}, expected {tuple(shape)}")


def torch_shape(shape):
    """The PyTorch shape of a Keras variable's value: HWIO kernels -> OIHW, a [1, n] row -> [n], else as is."""
    shape = tuple(shape)
    if len(shape) == 4:
        return (shape[3], shape[2], shape[0], shape[1])
    if len(shape) == 2 and shape[0] == 1:  # a spectral-norm u vector, stored flat by PyTorch
        return (shape[1],)
    return shape


def from_torch(value, shape):
    """A PyTorch-layout array -> the layout of a Keras variable of ``shape`` (see :func:`torch_shape`)."""
    value = np.asarray(value, np.float32)
    return value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.reshape(shape)


def assign_checked(variables, tensors, source, noun="tensor", layout="keras", ignore=()):
    """Assigns ``tensors[name]`` to ``variables[name]`` for every name, after checking names and shapes.

    The one checked assignment of the package: every reader of ``weights/`` ends here.

    Args:
        variables: ``{name: keras variable}``.
        tensors: ``{name: array}``; with ``layout="torch"`` in PyTorch layout (OIHW kernels, flat u vectors),
            checked in that layout and converted on assignment; with ``"keras"`` in the variables' layout.
        source: file or description, for error messages.
        noun: what a name is, for error messages ("tensor", "key", "discriminator tensor").
        ignore: regular expressions of names in ``tensors`` that have no variable (e.g. ``r"^fc\\."``).

    Raises:
        WeightsError: on the first missing, unexpected or mis-shaped tensor.
    """
    if layout not in ("keras", "torch"):
        raise ValueError(f"layout must be 'keras' or 'torch', got {layout!r}")
    skip = [re.compile(p) for p in ignore]
    found = [name for name in tensors if not any(p.search(name) for p in skip)]
    check_names(found, variables, source, noun)
    for name, var in variables.items():
        if layout == "torch":
            check_shape(name, tensors[name], torch_shape(var.shape), source)
            var.assign(from_torch(tensors[name], var.shape))
        else:
            check_shape(name, tensors[name], var.shape, source)
            var.assign(np.asarray(tensors[name], dtype=np.float32))


def set_model_weights(model, tensors, source):
    """Assigns canonical tensors to ``model``; fails on the first missing, extra or mis-shaped tensor."""
    assign_checked({name: var for var, name in model_tf1_names(model)}, tensors, source)


def get_model_weights(model):
    """Returns the model's weights as canonical ``{tf1_name: array}``."""
    return {name: np.asarray(var.numpy()) for var, name in model_tf1_names(model)}
