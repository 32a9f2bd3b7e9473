"""The ``gpen`` face restorer: GPEN-BFR on aligned faces, with the original's pre/post-processing.

Upstream (MetaF2N's ``FaceGAN.process(img, flip)``): ``x / 255``, ``(x - 0.5) / 0.5``, channels
reversed when ``flip`` (the caller holds BGR, the network wants RGB), the generator, then
``y · 0.5 + 0.5``, clip to [0, 1], ``· 255`` and a cast to uint8 that truncates (not rounds), the
channels reversed back when ``flip``. GPEN-BFR-512 restores the 512² test faces, GPEN-BFR-256
makes the training labels from 256² bicubic-upsized LQ faces (not clamped before the network).

The network always sees RGB. ``flip=False`` (the default) is RGB in, RGB out, as in the data
generator and in ``restorer_by_name('gpen', ...)``; ``flip=True`` is BGR in, BGR out, for arrays
read with OpenCV, as in the original ``generate_test_faces.py``.
"""
import numpy as np
import tensorflow as tf

from metaf2n_tf.errors import InputError
from metaf2n_tf.faces.network_range import from_network_uint8
from metaf2n_tf.weights.gpen import load_gpen, save_h5


def to_network(images01):
    """[0, 1] images -> the generator's [-1, 1] input, as upstream computes it."""
    return (images01 - 0.5) / 0.5


class GPENRestorer:
    """GPEN-BFR restorer built from user-supplied weights (upstream ``.pth`` or converted ``.h5``).

    Attributes:
        size: the aligned face size the weights were trained for (512 or 256), read from the weights.
        flip: reverse the channel order on the way in and out (BGR callers).
        arch: the generator's architecture found in the weights.
        model: the Keras generator, [-1, 1] RGB in and out.
    """

    def __init__(self, weights_path, flip=False):
        self.model, self.arch = load_gpen(weights_path)
        self.size = int(self.arch["size"])
        self.flip = bool(flip)
        self._forward = tf.function(
            self.model, input_signature=[tf.TensorSpec([None, self.size, self.size, 3], tf.float32)]
        )

    def save_weights(self, path):
        """Writes the loaded weights in the project's ``.h5`` format."""
        save_h5(path, self.model, self.arch)

    def restore_aligned(self, face):
        """Restores one aligned face: uint8 [size, size, 3] (RGB, or BGR with ``flip``) -> same."""
        face = np.asarray(face)
        expected = (self.size, self.size, 3)
        if face.dtype != np.uint8 or face.shape != expected:
            raise InputError(f"aligned face: got {face.dtype} {face.shape}, expected uint8 {expected}")
        x = face.astype(np.float32) / 255.0
        if self.flip:
            x = x[..., ::-1]
        out = from_network_uint8(self._forward(to_network(x)[None])[0].numpy(), "truncate")
        return np.ascontiguousarray(out[..., ::-1]) if self.flip else out

    def restore_batch(self, images):
        """Batched entry point for the data pipeline: [N, size, size, 3] float RGB in [0, 1] -> same.

        Works eagerly and inside ``tf.function`` / ``tf.data``. The result is quantised the way
        upstream's uint8 label is (``floor(255 · clip(y · 0.5 + 0.5)) / 255``): ``restore_aligned``'s
        output divided by 255, up to one level where float rounding crosses a step. Inputs outside [0, 1] (bicubic overshoot) are
        passed on unclipped, as upstream does.
        """
        images = tf.convert_to_tensor(images, tf.float32)
        out = self._forward(to_network(images))
        return tf.floor(tf.clip_by_value(out * 0.5 + 0.5, 0.0, 1.0) * 255.0) / 255.0

    __call__ = restore_batch
