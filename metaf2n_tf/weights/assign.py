"""Puts named arrays into Keras models and takes them out again, checking every tensor."""
import re

import numpy as np

from metaf2n_tf.errors import WeightsError
from metaf2n_tf.weights.names import MASK_SCOPE, SR_SCOPE, model_tf1_names


def split_scopes(tensors):
    """Splits canonical tensors into (SR ``MODEL/*``, MaskNet ``Mask/*``); other names are dropped."""
    sr = {k: v for k, v in tensors.items() if k.startswith(SR_SCOPE + "/")}
    mask = {k: v for k, v in tensors.items() if k.startswith(MASK_SCOPE + "/")}
    return sr, mask


def sr_arch(sr_tensors, source):
    """Reads (num_block, num_feat, num_grow_ch) of RRDBNet from its weights."""
    blocks = {int(m.group(1)) for k in sr_tensors if (m := re.match(r"MODEL/body/(\d+)/", k))}
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


def set_model_weights(model, tensors, source):
    """Assigns canonical tensors to ``model``; fails on the first missing, extra or mis-shaped tensor."""
    expected = dict((name, var) for var, name in model_tf1_names(model))
    missing = [n for n in expected if n not in tensors]
    extra = [n for n in tensors if n not in expected]
    if missing:
        raise WeightsError(f"{source}: {len(missing)} tensor(s) missing, first '{missing[0]}'")
    if extra:
        raise WeightsError(f"{source}: {len(extra)} unexpected tensor(s), first '{extra[0]}'")
    for name, var in expected.items():
        value = np.asarray(tensors[name])
        if tuple(value.shape) != tuple(var.shape):
            raise WeightsError(f"{source}: '{name}' has shape {tuple(value.shape)}, expected {tuple(var.shape)}")
        var.assign(value.astype(np.float32))


def get_model_weights(model):
    """Returns the model's weights as canonical ``{tf1_name: array}``."""
    return {name: np.asarray(var.numpy()) for var, name in model_tf1_names(model)}
