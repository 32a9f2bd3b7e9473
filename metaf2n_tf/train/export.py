"""TF1 export of a training run: the latest checkpoint's SR + MaskNet under the original's names."""
import os

import tensorflow as tf

from metaf2n_tf.errors import ConfigError
from metaf2n_tf.models.masknet import masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.train.checkpoints import checkpoint_arch, checkpoint_step
from metaf2n_tf.weights.assign import get_model_weights
from metaf2n_tf.weights.tf_checkpoint import write_tf1_checkpoint


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
    tensors = {**get_model_weights(sr_model), **get_model_weights(mask_model)}
    return write_tf1_checkpoint(prefix, tensors), checkpoint_step(latest)
