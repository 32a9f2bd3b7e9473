"""Weights in and out of meta-training: initial weights, training checkpoints, resume, TF1 export.

Training checkpoints are object-based (``tf.train.Checkpoint``): ``{checkpoint_dir}/Model{trial}/model-{step}``
holds the SR model, MaskNet, the discriminator (with its spectral-norm ``u``), both Adam optimizers, the step
and the SR architecture. A ``tf.train.CheckpointManager`` writes them with the step as checkpoint number and
keeps every one (the original kept 100000). TensorFlow writes a checkpoint's files before it updates the
``checkpoint`` state file, so a run killed at any moment leaves the previous checkpoint as the latest.

The input pipeline's position (the ``tf.data`` iterator, shuffle buffers included) is large, so it goes to
``Model{trial}/data/data-{step}``, of which only the last two are kept; it makes a resumed run continue
bit-exactly. ``export_tf1`` writes the SR and MaskNet weights of the latest checkpoint under the original
TF1 names (``MODEL/*``, ``Mask/*``) for test.py and ``tf.compat.v1.train.Saver``.
"""
import glob
import json
import os
import re
import sys

import numpy as np
import tensorflow as tf

from metaf2n_tf.errors import ConfigError, WeightsError
from metaf2n_tf.models.discriminator import unet_discriminator_sn
from metaf2n_tf.models.masknet import masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.weights import pth
from metaf2n_tf.weights.assign import get_model_weights, set_model_weights
from metaf2n_tf.weights.names import LSLR_SCOPE, RRDB_BLOCK, model_tf1_names
from metaf2n_tf.weights.sources import read_weights
from metaf2n_tf.weights.tf_checkpoint import write_tf1_checkpoint
from metaf2n_tf.weights.torchvision import set_netd_weights

NO_INIT_WEIGHTS = "none"  # --init_weights none: nothing is read, SR model and MaskNet start random
MODEL_PREFIX = "model"
DATA_FOLDER = "data"
# Object-graph key of the SR architecture [num_block, num_feat, num_grow_ch] in a training checkpoint.
_ARCH_KEY = "arch/.ATTRIBUTES/VARIABLE_VALUE"


def note(message):
    print(f"note: {message}", file=sys.stderr)


def model_directory(checkpoint_dir, trial):
    """``{checkpoint_dir}/Model{trial}``, the original's folder of one experiment."""
    return os.path.join(checkpoint_dir, f"Model{trial}")


def truncated_sr(tensors, num_block, source):
    """The SR tensors with only RRDB blocks ``0..num_block-1``; WeightsError when the source has fewer."""
    blocks = {int(m.group(1)) for k in tensors if (m := RRDB_BLOCK.match(k))}
    if num_block > len(blocks):
        raise WeightsError(f"{source}: holds {len(blocks)} RRDB blocks, got --num_block {num_block}")
    return {k: v for k, v in tensors.items() if not (m := RRDB_BLOCK.match(k)) or int(m.group(1)) < num_block}


def build_sr_and_mask(init_weights, num_block):
    """RRDBNet (``num_block`` blocks) and MaskNet from an init source (``read_weights``) or random (``none``).

    A source with more blocks gives its first ``num_block``; MaskNet is random (VarianceScaling, as the
    original) unless the source holds one. Call under the distribution strategy's scope.
    """
    if init_weights == NO_INIT_WEIGHTS:
        note("--init_weights none: SR model and MaskNet randomly initialised")
        return rrdbnet(num_block=num_block), masknet()
    weights = read_weights(init_weights)
    _, num_feat, num_grow_ch = weights.arch
    sr_model = rrdbnet(num_block=num_block, num_feat=num_feat, num_grow_ch=num_grow_ch)
    set_model_weights(sr_model, truncated_sr(weights.sr, num_block, init_weights), init_weights)
    mask_model = masknet()
    if weights.mask:
        set_model_weights(mask_model, weights.mask, init_weights)
    else:
        note(f"{init_weights} holds no MaskNet: MaskNet randomly initialised")
    return sr_model, mask_model


def resume_point(directory, step):
    """The checkpoint ``--step`` resumes from, or None for a fresh run (``--step 0``, no checkpoint yet).

    Raises ConfigError when ``step`` is not the step of the latest checkpoint (the original's assertion).
    """
    latest = tf.train.latest_checkpoint(directory)
    if latest is None:
        if step:
            raise ConfigError(f"{directory}: no checkpoint to resume from, got --step {step} "
                              "(use --step 0 for a fresh run)")
        return None
    latest_step = checkpoint_step(latest)
    if latest_step != step:
        raise ConfigError(f"{directory}: latest checkpoint is {os.path.basename(latest)}, got --step {step}, "
                          f"expected --step {latest_step}")
    return latest


def sr_and_mask_for(path, num_block):
    """Unloaded RRDBNet and MaskNet shaped as in the training checkpoint ``path`` (to restore into)."""
    stored = checkpoint_arch(path)
    if stored[0] != num_block:
        raise ConfigError(f"{path}: SR model has {stored[0]} RRDB blocks, got --num_block {num_block}")
    return rrdbnet(num_block=stored[0], num_feat=stored[1], num_grow_ch=stored[2]), masknet()


def build_discriminator(disc_weights):
    """UNetDiscriminatorSN from a Real-ESRGAN netD ``.pth`` (``params``), or random when none is given."""
    disc = unet_discriminator_sn()
    if disc_weights:
        set_netd_weights(disc, pth.state_dict(pth.load_pth(disc_weights), disc_weights), disc_weights)
    else:
        note("no --disc_weights: discriminator randomly initialised")
    return disc


def sr_arch(sr_model):
    """[num_block, num_feat, num_grow_ch] of a built RRDBNet."""
    num_block = len({layer.name.split("_")[1] for layer in sr_model.layers if layer.name.startswith("body_")})
    return [num_block, sr_model.get_layer("conv_first").filters, sr_model.get_layer("body_0_rdb1_conv1").filters]


def training_checkpoint(models, optimizers, step):
    """The ``tf.train.Checkpoint`` of a run: models, both optimizers, the step and the SR architecture."""
    arch = tf.Variable(np.asarray(sr_arch(models.sr), np.int64), trainable=False, name="arch")
    extra = {}
    if models.inner_lrs:  # LSLR (--learn_inner_lr): the log-rates and their optimizer
        extra = {"inner_lr": list(models.inner_lrs), "inner_lr_optimizer": optimizers[2]}
    return tf.train.Checkpoint(model=models.sr, mask=models.mask, discriminator=models.disc,
                               optimizer=optimizers[0], disc_optimizer=optimizers[1], step=step, arch=arch, **extra)


def checkpoint_step(path):
    """The step of a checkpoint path: its last integer (``.../model-1000`` -> 1000), as the original parses it."""
    return int(re.findall(r"\d+", os.path.basename(path))[-1])


def checkpoint_arch(path):
    """[num_block, num_feat, num_grow_ch] stored in a training checkpoint."""
    try:
        return [int(x) for x in tf.train.load_checkpoint(path).get_tensor(_ARCH_KEY)]
    except (tf.errors.OpError, ValueError) as e:
        raise WeightsError(f"{path}: not a metaf2n_tf training checkpoint ({str(e).splitlines()[0]})") from None


class Checkpoints:
    """Saves and restores one experiment (``Model{trial}``): model state and input-pipeline position.

    Args:
        directory: ``{checkpoint_dir}/Model{trial}``.
        checkpoint: :func:`training_checkpoint`.
        iterator: the ``tf.data`` iterator of the run, or None.
        write: False on workers that are not the chief (they write to a scratch folder, as tf.distribute wants).
    """

    def __init__(self, directory, checkpoint, iterator=None, write=True):
        self.directory = directory
        self.checkpoint = checkpoint
        self.manager = self._manager(checkpoint, directory, MODEL_PREFIX, None)
        self.data = None if iterator is None else tf.train.Checkpoint(iterator=iterator)
        target = directory if write else os.path.join(directory, ".worker_scratch")
        self.writers = [self.manager if write else self._manager(checkpoint, target, MODEL_PREFIX, None)]
        if self.data is not None:  # data first: a model checkpoint never lacks its data state
            self.writers.insert(0, self._manager(self.data, os.path.join(target, DATA_FOLDER), DATA_FOLDER, 2))

    @staticmethod
    def _manager(checkpoint, directory, name, keep):
        return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=keep, checkpoint_name=name)

    def save(self, step):
        """Writes ``data/data-{step}`` then ``model-{step}``; returns the model checkpoint's path."""
        return [manager.save(checkpoint_number=step) for manager in self.writers][-1]

    def restore(self, path):
        """Restores everything from ``path`` (see ``resume_point``) and the data position of its step."""
        self.checkpoint.restore(path).assert_existing_objects_matched()
        self._restore_data(checkpoint_step(path))

    def _restore_data(self, step):
        path = os.path.join(self.directory, DATA_FOLDER, f"{DATA_FOLDER}-{step}")
        if self.data is None:
            return
        if tf.io.gfile.exists(path + ".index"):
            self.data.restore(path).assert_consumed()
        else:
            note(f"{path}: no input-pipeline state for step {step}; the data stream restarts from --seed")


def export_tf1(directory, prefix):
    """Writes SR + MaskNet of the latest checkpoint in ``directory`` as a TF1 checkpoint at ``prefix``.

    Returns (prefix, step). The names are the original's (``MODEL/body/0/rdb1/conv1/weight``,
    ``Mask/conv1/kernel``), loadable by test.py and by a ``tf.compat.v1.train.Saver`` graph.
    """
    latest = tf.train.latest_checkpoint(directory)
    if latest is None:
        raise ConfigError(f"{directory}: no checkpoint to export (train first, or check --trial/--checkpoint_dir)")
    if os.path.abspath(os.path.dirname(os.path.abspath(prefix))) == os.path.abspath(directory):
        raise ConfigError(f"--export {prefix}: got a prefix inside {directory}, expected another folder "
                          "(its 'checkpoint' file would replace the training one)")
    num_block, num_feat, num_grow_ch = checkpoint_arch(latest)
    sr_model = rrdbnet(num_block=num_block, num_feat=num_feat, num_grow_ch=num_grow_ch)
    mask_model = masknet()
    status = tf.train.Checkpoint(model=sr_model, mask=mask_model).read(latest)
    status.expect_partial()  # the optimizers and the discriminator stay behind
    status.assert_existing_objects_matched()
    tensors = {**get_model_weights(sr_model), **get_model_weights(mask_model), **inner_rate_tensors(latest, sr_model)}
    return write_tf1_checkpoint(prefix, tensors), checkpoint_step(latest)


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
