"""Training checkpoints of one experiment (``Model{trial}``): their format, saving, restoring.

Checkpoints are object-based (``tf.train.Checkpoint``): ``{checkpoint_dir}/Model{trial}/model-{step}`` holds
the SR model, MaskNet, the discriminator (with its spectral-norm ``u``), both Adam optimizers, the step and
the SR architecture. A ``tf.train.CheckpointManager`` writes them with the step as checkpoint number and
keeps every one (the original kept 100000). TensorFlow writes a checkpoint's files before it updates the
``checkpoint`` state file (atomically, by rename), so a run killed at any moment leaves the previous
checkpoint as the latest; a save that fails (no space, file size limit, permission) is one
:class:`OutputError` line naming the file, and the previous checkpoint also stays the latest.

The input pipeline's position (the ``tf.data`` iterator, shuffle buffers included) is large, so it goes to
``Model{trial}/data/data-{step}``, of which only the last two are kept; it is written before the model
checkpoint of the same step, so the latest model checkpoint always has its data state, and a resumed run
continues bit-exactly. Initial weights: ``init_weights``; which checkpoint to resume: ``resume``; TF1
export: ``export``.
"""
import os
import re
import sys

import numpy as np
import tensorflow as tf

from metaf2n_tf.errors import OutputError, WeightsError

MODEL_PREFIX = "model"
DATA_FOLDER = "data"
# Object-graph key of the SR architecture [num_block, num_feat, num_grow_ch] in a training checkpoint.
_ARCH_KEY = "arch/.ATTRIBUTES/VARIABLE_VALUE"


def note(message):
    print(f"note: {message}", file=sys.stderr)


def model_directory(checkpoint_dir, trial):
    """``{checkpoint_dir}/Model{trial}``, the original's folder of one experiment."""
    return os.path.join(checkpoint_dir, f"Model{trial}")


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


def _first_line(error):
    message = getattr(error, "message", None) or str(error)
    return message.strip().splitlines()[0] if message.strip() else type(error).__name__


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
        self.writers = [(self.manager if write else self._manager(checkpoint, target, MODEL_PREFIX, None), target,
                         MODEL_PREFIX)]
        if self.data is not None:  # data first: a model checkpoint never lacks its data state
            data_dir = os.path.join(target, DATA_FOLDER)
            self.writers.insert(0, (self._manager(self.data, data_dir, DATA_FOLDER, 2), data_dir, DATA_FOLDER))

    @staticmethod
    def _manager(checkpoint, directory, name, keep):
        return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=keep, checkpoint_name=name)

    def save(self, step):
        """Writes ``data/data-{step}`` then ``model-{step}``; returns the model checkpoint's path.

        A failed write raises OutputError naming the file; the previous checkpoint stays the latest.
        """
        path = None
        for manager, folder, name in self.writers:
            try:
                path = manager.save(checkpoint_number=step)
            except (tf.errors.OpError, OSError) as e:
                latest = tf.train.latest_checkpoint(self.directory)
                kept = os.path.basename(latest) if latest else "none"
                raise OutputError(f"{os.path.join(folder, f'{name}-{step}')}: cannot write the checkpoint "
                                  f"({_first_line(e)}); the latest complete checkpoint stays {kept}") from None
        return path

    def restore(self, path):
        """Restores everything from ``path`` (see ``resume.resume_point``) and the data position of its step."""
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
