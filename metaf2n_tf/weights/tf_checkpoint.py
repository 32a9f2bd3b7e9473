"""Reads and writes TF1 name-based checkpoints (``prefix.index`` + ``prefix.data-*``), as MetaF2N releases them."""
import os

import numpy as np
import tensorflow as tf

from metaf2n_tf import atomic
from metaf2n_tf.errors import WeightsError
from metaf2n_tf.weights.names import LSLR_SCOPE, MASK_SCOPE, SR_SCOPE

# Optimizer slots and bookkeeping that live beside the model variables in a training checkpoint.
_SLOT_SUFFIXES = ("/Adam", "/Adam_1", "/Momentum", "/ExponentialMovingAverage")


def is_checkpoint_prefix(path):
    return os.path.isfile(os.fspath(path) + ".index")


def resolve_prefix(path):
    """A prefix as given, or the latest checkpoint of a directory (its ``checkpoint`` state file)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise WeightsError(f"{path}: directory holds no checkpoint (no 'checkpoint' state file)")
        return latest
    if not is_checkpoint_prefix(path):
        raise WeightsError(f"{path}: not found (expected a checkpoint prefix with '{path}.index')")
    return path


def read_tf1_checkpoint(path, scopes=(SR_SCOPE, MASK_SCOPE, LSLR_SCOPE)):
    """Returns ``{name: array}`` for the model variables under ``scopes`` (optimizer slots skipped)."""
    prefix = resolve_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
        names = reader.get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as e:
        raise WeightsError(f"{prefix}: unreadable checkpoint ({str(e).splitlines()[0]})") from None
    wanted = [
        n for n in sorted(names)
        if n.split("/", 1)[0] in scopes and not n.endswith(_SLOT_SUFFIXES)
    ]
    if not wanted:
        raise WeightsError(f"{prefix}: no variables under {' or '.join(s + '/' for s in scopes)}")
    return {n: np.asarray(reader.get_tensor(n), dtype=np.float32) for n in wanted}


def write_tf1_checkpoint(prefix, tensors):
    """Writes ``{name: array}`` as a TF1 V2 checkpoint that ``tf.compat.v1.train.Saver`` restores by name.

    Also writes the ``checkpoint`` state file beside it so the directory works with ``latest_checkpoint``.
    """
    prefix = os.fspath(prefix)
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.convert_to_tensor(np.asarray(tensors[n])) for n in names],
    )
    directory = os.path.dirname(os.path.abspath(prefix))
    base = os.path.basename(prefix)
    atomic.write_text(os.path.join(directory, "checkpoint"),
                      f'model_checkpoint_path: "{base}"\nall_model_checkpoint_paths: "{base}"\n', "checkpoint state")
    return prefix
