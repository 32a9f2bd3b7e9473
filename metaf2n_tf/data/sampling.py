"""Degradation parameters drawn per task and per image, with ``tf.random.stateless_*`` only.

A seed fixes everything, so the draws run inside ``tf.data`` maps with parallel calls. A task draws
``TaskParams`` once (kernels, resizes, noise kind, JPEG qualities, final order) and applies them to its faces
and its natural patches; noise strength and the grey-noise flag are drawn per image (``NoiseParams``), as the
original does (its data generator draws them image by image although the rest of the degradation is shared).
"""
from typing import NamedTuple

import tensorflow as tf

from metaf2n_tf.data.degradation_config import RESIZE_MODES, stage
from metaf2n_tf.data.kernels import blur_kernel, pulse


class KernelParams(NamedTuple):
    """One blur kernel: a mixed (generalized Gaussian / plateau) kernel or a sinc, ``size`` x ``size``."""

    size: tf.Tensor  # int32, odd: the support; the kernel is zero outside it
    sinc: tf.Tensor  # bool: circular low-pass with cut-off ``omega`` instead of the mixed kernel
    omega: tf.Tensor
    sigma_x: tf.Tensor
    sigma_y: tf.Tensor
    theta: tf.Tensor  # rotation in radians
    beta: tf.Tensor  # shape: 1 is a plain Gaussian
    plateau: tf.Tensor  # bool: 1 / (1 + Q^beta) instead of exp(-Q^beta / 2)


class TaskParams(NamedTuple):
    """Everything one task shares between its faces and its natural patches."""

    kernel1: tf.Tensor  # [K, K] float32, K = blur_kernel_size
    kernel2: tf.Tensor
    sinc_kernel: tf.Tensor  # final filter; a centred pulse (identity) when not drawn
    blur2: tf.Tensor  # bool: second blur applied
    scale1: tf.Tensor  # first resize, relative
    mode1: tf.Tensor  # int32 index into RESIZE_MODES
    scale2: tf.Tensor  # second resize, relative to the LQ size
    mode2: tf.Tensor
    mode3: tf.Tensor  # final resize to the LQ size
    gaussian1: tf.Tensor  # bool: Gaussian noise in round 1, else Poisson
    gaussian2: tf.Tensor
    quality1: tf.Tensor  # JPEG quality, float as drawn
    quality2: tf.Tensor
    sinc_first: tf.Tensor  # bool: final resize + sinc before the last JPEG


class NoiseParams(NamedTuple):
    """Per-image noise of one round for a batch of N images."""

    sigma: tf.Tensor  # [N] Gaussian sigma, 0-255 scale
    scale: tf.Tensor  # [N] Poisson scale
    gray: tf.Tensor  # [N] bool: one noise map shared by the channels
    seed: tf.Tensor  # [2] int32 seed of the noise maps


def split_seed(seed, n):
    """``n`` independent stateless seeds [n, 2] from one seed [2]."""
    return tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), n)


def uniform(seed, low, high, shape=()):
    """U(low, high) float32 (``low == high`` gives that value)."""
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high, dtype=tf.float32)


def coin(seed, p, shape=()):
    """True with probability ``p``."""
    return tf.random.stateless_uniform(shape, seed) < p


def choice(seed, probs, shape=()):
    """Index drawn with probabilities ``probs`` (int32)."""
    cumulative = tf.constant([sum(probs[: i + 1]) for i in range(len(probs) - 1)], tf.float32)
    u = tf.random.stateless_uniform(tuple(shape) + (1,), seed)
    return tf.reduce_sum(tf.cast(u >= cumulative, tf.int32), axis=-1)


def uniform_index(seed, n, shape=()):
    """Index uniform in [0, n) (int32)."""
    return tf.random.stateless_uniform(shape, seed, minval=0, maxval=n, dtype=tf.int32)


def _beta(seed, beta_range):
    """BasicSR's shape rule: with prob 0.5 U(low, 1), else U(1, high)."""
    s = split_seed(seed, 3)
    return tf.where(coin(s[0], 0.5), uniform(s[1], beta_range[0], 1.0), uniform(s[2], 1.0, beta_range[1]))


def sample_kernel(seed, cfg, n):
    """Blur kernel of round ``n``: size, then sinc (prob ``sinc_prob``) or a mixed kernel type."""
    values = stage(cfg, n)
    s = split_seed(seed, 9)
    size = tf.gather(tf.constant(cfg.kernel_range, tf.int32), uniform_index(s[0], len(cfg.kernel_range)))
    small = size < cfg.sinc_large_size
    omega = tf.where(small, uniform(s[1], *cfg.sinc_cutoff_small), uniform(s[2], *cfg.sinc_cutoff_large))
    kind = choice(s[3], values.kernel_prob)  # index into KERNEL_TYPES
    aniso = tf.equal(kind % 2, 1)
    generalized = tf.logical_or(tf.equal(kind, 2), tf.equal(kind, 3))
    plateau = kind >= 4
    sigma_x = uniform(s[4], *values.blur_sigma)
    beta = tf.where(plateau, _beta(s[5], values.betap_range), _beta(s[5], values.betag_range))
    return KernelParams(
        size=size,
        sinc=coin(s[6], values.sinc_prob),
        omega=omega,
        sigma_x=sigma_x,
        sigma_y=tf.where(aniso, uniform(s[7], *values.blur_sigma), sigma_x),
        theta=tf.where(aniso, uniform(s[8], *cfg.rotation_range), 0.0),
        beta=tf.where(tf.logical_or(generalized, plateau), beta, 1.0),
        plateau=plateau,
    )


def sample_resize(seed, probs, scale_range):
    """(scale, mode): up U(1, high), down U(low, 1) or keep 1 with ``probs``; mode uniform."""
    s = split_seed(seed, 4)
    kind = choice(s[0], probs)
    scale = tf.gather(tf.stack([uniform(s[1], 1.0, scale_range[1]), uniform(s[2], scale_range[0], 1.0), 1.0]), kind)
    return scale, uniform_index(s[3], len(RESIZE_MODES))


def sample_task(seed, cfg):
    """Draws what one task shares: both blur kernels, the final sinc (or identity), resizes, noise kinds, JPEG
    qualities and the order of the last JPEG and sinc."""
    s = split_seed(seed, 16)
    size = cfg.blur_kernel_size
    final = KernelParams(
        size=tf.gather(tf.constant(cfg.kernel_range, tf.int32), uniform_index(s[0], len(cfg.kernel_range))),
        sinc=tf.constant(True), omega=uniform(s[1], *cfg.final_sinc_cutoff),
        sigma_x=tf.constant(1.0), sigma_y=tf.constant(1.0), theta=tf.constant(0.0), beta=tf.constant(1.0),
        plateau=tf.constant(False))
    scale1, mode1 = sample_resize(s[4], cfg.resize_prob, cfg.resize_range)
    scale2, mode2 = sample_resize(s[5], cfg.resize_prob2, cfg.resize_range2)
    return TaskParams(
        kernel1=blur_kernel(sample_kernel(s[2], cfg, 1), size),
        kernel2=blur_kernel(sample_kernel(s[3], cfg, 2), size),
        sinc_kernel=tf.where(coin(s[6], cfg.final_sinc_prob), blur_kernel(final, size), pulse(size)),
        blur2=coin(s[7], cfg.second_blur_prob),
        scale1=scale1, mode1=mode1, scale2=scale2, mode2=mode2,
        mode3=uniform_index(s[8], len(RESIZE_MODES)),
        gaussian1=coin(s[9], cfg.gaussian_noise_prob),
        gaussian2=coin(s[10], cfg.gaussian_noise_prob2),
        quality1=uniform(s[11], *cfg.jpeg_range),
        quality2=uniform(s[12], *cfg.jpeg_range2),
        sinc_first=coin(s[13], cfg.sinc_first_prob),
    )


def sample_noise(seed, count, cfg, n):
    """Per-image noise of round ``n`` for ``count`` images."""
    values = stage(cfg, n)
    s = split_seed(seed, 4)
    return NoiseParams(
        sigma=uniform(s[0], *values.noise_range, shape=[count]),
        scale=uniform(s[1], *values.poisson_scale_range, shape=[count]),
        gray=coin(s[2], values.gray_noise_prob, shape=[count]),
        seed=tf.cast(s[3], tf.int32),
    )
