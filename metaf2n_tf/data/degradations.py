"""Real-ESRGAN second-order degradation (MetaF2N's DataGenerator) in TensorFlow ops: the chain ``degrade``.

One job per module, as in BasicSR (sampling apart from applying):

* ``degradation_config``: ``DegradationConfig``, every value, checked; ``stage(cfg, 1 or 2)``;
* ``sampling``: ``sample_*(seed, ...)`` -> ``TaskParams`` / ``NoiseParams``, stateless random draws;
* ``kernels``: blur and sinc kernels, ``filter2d``;
* ``resize``: PyTorch ``F.interpolate`` (align_corners=False, no antialias, bicubic -0.75) exactly;
* ``noise``: Gaussian and Poisson noise, ``quantize``;
* ``jpeg``: libjpeg (``tf.io``) instead of DiffJPEG, see ``jpeg``;
* ``sharpen``: ``usm_sharp``;
* here: ``degrade``, the whole chain on float32 batches [N, H, W, C] in [0, 1].

Every public name of those modules is importable from here too, as before the split.
"""
import tensorflow as tf

from metaf2n_tf.data.degradation_config import (  # noqa: F401  (re-exported)
    KERNEL_TYPES, RESIZE_MODES, RESIZE_TYPES, DegradationConfig, Stage, stage)
from metaf2n_tf.data.jpeg import jpeg
from metaf2n_tf.data.kernels import blur_kernel, filter2d, mixed_kernel, pulse, reflect_pad, sinc_kernel  # noqa: F401
from metaf2n_tf.data.noise import (  # noqa: F401  (re-exported)
    GREY_WEIGHTS, add_gaussian_noise, add_noise, add_poisson_noise, poisson_levels, quantize)
from metaf2n_tf.data.resize import resize, resize_by, resize_matrix  # noqa: F401
from metaf2n_tf.data.sampling import (  # noqa: F401  (re-exported)
    KernelParams, NoiseParams, TaskParams, choice, coin, sample_kernel, sample_noise, sample_resize, sample_task,
    split_seed, uniform, uniform_index)
from metaf2n_tf.data.sharpen import gaussian_kernel_1d, usm_sharp  # noqa: F401


def _final_stage(images, task, lq_size):
    """Resize to the LQ size + sinc filter, and JPEG(quality2), sinc first if ``task.sinc_first``."""
    size = tf.stack([lq_size, lq_size])

    def resize_and_sinc(x):
        return filter2d(resize(x, size, task.mode3), task.sinc_kernel)

    x = tf.cond(task.sinc_first, lambda: resize_and_sinc(images), lambda: images)
    x = jpeg(x, task.quality2)  # clamps first
    return tf.cond(task.sinc_first, lambda: x, lambda: resize_and_sinc(x))


def degrade(images, task, noise1, noise2, lq_size):
    """Real-ESRGAN's second-order chain: [N, H, W, 3] in [0, 1] -> [N, lq, lq, 3] on the 8-bit grid.

    Round 1: blur (kernel1), resize by scale1, noise, JPEG(quality1). Round 2: blur (kernel2) if ``blur2``,
    resize to int(lq_size * scale2), noise. Then ``_final_stage`` and rounding to 8 bits.
    """
    x = filter2d(images, task.kernel1)
    x = resize_by(x, task.scale1, task.mode1)
    x = add_noise(x, task.gaussian1, noise1)
    x = jpeg(x, task.quality1)
    x = tf.cond(task.blur2, lambda: filter2d(x, task.kernel2), lambda: x)
    size2 = tf.maximum(tf.cast(tf.cast(lq_size, tf.float32) * task.scale2, tf.int32), 1)
    x = resize(x, tf.stack([size2, size2]), task.mode2)
    x = add_noise(x, task.gaussian2, noise2)
    x = quantize(_final_stage(x, task, lq_size))
    return tf.ensure_shape(x, [images.shape[0], lq_size, lq_size, images.shape[-1]])
