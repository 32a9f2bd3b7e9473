"""Resuming meta-training: which checkpoint ``--step`` names, and the networks to restore it into.

``--step 0`` starts fresh; ``--step s`` resumes from ``model-s``, which must be the latest checkpoint (the
original's rule); ``--step latest`` resumes from whatever the latest complete checkpoint is and starts fresh
when there is none, so a scheduler can restart a killed job with the same command line. "Complete": the
``checkpoint`` state file names only checkpoints whose files are all written (TensorFlow writes the data
and index files, under their final names by renaming, before it rewrites the state file, itself by an
atomic rename), so a run killed at any moment, even inside a save, leaves the previous checkpoint latest.
"""
import os

import tensorflow as tf

from metaf2n_tf.errors import ConfigError
from metaf2n_tf.models.masknet import masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.train.checkpoints import checkpoint_arch, checkpoint_step

LATEST = "latest"


def resume_point(directory, step):
    """The checkpoint ``--step`` resumes from, or None for a fresh run.

    Args:
        directory: ``{checkpoint_dir}/Model{trial}``.
        step: ``'latest'``, or a step number (int or digits); 0 = fresh run.

    Raises ConfigError when a step number is not the step of the latest checkpoint.
    """
    latest = tf.train.latest_checkpoint(directory)
    if str(step) == LATEST:
        return latest
    step = int(step)
    if latest is None:
        if step:
            raise ConfigError(f"{directory}: no checkpoint to resume from, got --step {step} "
                              "(use --step 0 for a fresh run)")
        return None
    latest_step = checkpoint_step(latest)
    if latest_step != step:
        raise ConfigError(f"{directory}: latest checkpoint is {os.path.basename(latest)}, got --step {step}, "
                          f"expected --step {latest_step} (or --step latest)")
    return latest


def sr_and_mask_for(path, num_block):
    """Unloaded RRDBNet and MaskNet shaped as in the training checkpoint ``path`` (to restore into)."""
    stored = checkpoint_arch(path)
    if stored[0] != num_block:
        raise ConfigError(f"{path}: SR model has {stored[0]} RRDB blocks, got --num_block {num_block}")
    return rrdbnet(num_block=stored[0], num_feat=stored[1], num_grow_ch=stored[2]), masknet()
