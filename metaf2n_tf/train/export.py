"""Export of a training run's latest checkpoint for test.py: SR + MaskNet (+ LSLR rates) under the original's names.

``--export PREFIX`` writes a TF1 checkpoint (what MetaF2N releases); ``--export FILE.h5`` writes this project's
HDF5 weights file, and when the SR weights are still those of ``--init_weights`` (a ``--freeze_sr`` run) only
what training changed: MaskNet and the rates, with the SR source named in the ``base`` attribute (an overlay of
about 1.5 MB instead of 67 MB for x4plus).
"""
import glob
import json
import os

import numpy as np
import tensorflow as tf

from metaf2n_tf.errors import ConfigError
from metaf2n_tf.models.masknet import masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.train.checkpoints import checkpoint_arch, checkpoint_step
from metaf2n_tf.train.init_weights import NO_INIT_WEIGHTS
from metaf2n_tf.weights import h5
from metaf2n_tf.weights.assign import get_model_weights
from metaf2n_tf.weights.names import LSLR_SCOPE, model_tf1_names
from metaf2n_tf.weights.sources import read_weights
from metaf2n_tf.weights.tf_checkpoint import write_tf1_checkpoint


def export_tf1(directory, prefix):
    """Writes SR + MaskNet of the latest checkpoint in ``directory`` as a TF1 checkpoint at ``prefix``.

    Returns (prefix, step). The names are the original's (``MODEL/body/0/rdb1/conv1/weight``,
    ``Mask/conv1/kernel``), loadable by test.py and by a ``tf.compat.v1.train.Saver`` graph.
    """
    tensors, step = _latest_tensors(directory, prefix)
    return write_tf1_checkpoint(prefix, tensors), step


def export_h5(directory, path, init_weights):
    """Writes the latest checkpoint in ``directory`` as a weights ``.h5``; returns (path, step, overlay).

    ``overlay`` is True when the SR tensors equal those of ``init_weights`` bit for bit: then they are left
    out and ``init_weights`` is recorded as the file's ``base`` (a file path made absolute).
    """
    tensors, step = _latest_tensors(directory, path)
    sr = {k: v for k, v in tensors.items() if k.startswith("MODEL/")}
    overlay = init_weights != NO_INIT_WEIGHTS and _same_tensors(sr, read_weights(init_weights).sr)
    attrs = {}
    if overlay:
        tensors = {k: v for k, v in tensors.items() if k not in sr}
        attrs["base"] = init_weights if not os.path.exists(init_weights) else os.path.abspath(init_weights)
    return h5.write_h5(path, tensors, attrs=attrs), step, overlay


def _same_tensors(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _latest_tensors(directory, target):
    """``{TF1 name: array}`` of SR, MaskNet and LSLR rates in the latest checkpoint of ``directory``, and its step."""
    latest = tf.train.latest_checkpoint(directory)
    if latest is None:
        raise ConfigError(f"{directory}: no checkpoint to export (train first, or check --trial/--checkpoint_dir)")
    if os.path.abspath(os.path.dirname(os.path.abspath(target))) == os.path.abspath(directory):
        raise ConfigError(f"--export {target}: got a prefix inside {directory}, expected another folder "
                          "(its 'checkpoint' file would replace the training one)")
    num_block, num_feat, num_grow_ch = checkpoint_arch(latest)
    sr_model = rrdbnet(num_block=num_block, num_feat=num_feat, num_grow_ch=num_grow_ch)
    mask_model = masknet()
    status = tf.train.Checkpoint(model=sr_model, mask=mask_model).read(latest)
    status.expect_partial()  # the optimizers and the discriminator stay behind
    status.assert_existing_objects_matched()
    tensors = {**get_model_weights(sr_model), **get_model_weights(mask_model), **inner_rate_tensors(latest, sr_model)}
    return tensors, checkpoint_step(latest)


def inner_rate_tensors(path, sr_model):
    """LSLR rates of a training checkpoint as ``{'LSLR/<SR tensor name>': task_lr * exp(v)}`` ({} without).

    The rate is stored, not the log-rate, so a reader needs no task_lr; ``task_lr`` is read from the
    run's ``config-*.json`` beside the checkpoint (0.01, the original's, when there is none).
    """
    keys = [name for name, _ in tf.train.list_variables(path)
            if name.startswith("inner_lr/") and name.endswith("/.ATTRIBUTES/VARIABLE_VALUE")]
    if not keys:
        return {}
    reader = tf.train.load_checkpoint(path)
    names = dict((id(var), name) for var, name in model_tf1_names(sr_model))
    order = [names[id(v)] for v in sr_model.trainable_variables]
    task_lr = _task_lr(os.path.dirname(path))
    out = {}
    for i, name in enumerate(order):
        value = reader.get_tensor(f"inner_lr/{i}/.ATTRIBUTES/VARIABLE_VALUE")
        out[f"{LSLR_SCOPE}/{name}"] = np.asarray(task_lr * np.exp(value), np.float32)
    return out


def _task_lr(directory):
    configs = sorted(glob.glob(os.path.join(directory, "config-*.json")), key=checkpoint_step)
    if not configs:
        return 0.01
    with open(configs[-1], encoding="utf-8") as f:
        return float(json.load(f)["meta"]["task_lr"])
