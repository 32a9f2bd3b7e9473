"""Meta-training losses of the original (docs/upstream.md, "Meta-training"); loss weights are arguments, never literals.

Outer loss of one task on its natural patch, with the adapted SR output y_hat and MaskNet's W:

    L_out = l1_weight * mean|labelb - y_hat| + lpips_weight * mean LPIPS(labelb, y_hat)
            + gan_weight * mean BCE(D(y_hat), 1) + mask_weight * mean((W - 1)^2) / 2
            + hf_weight * mean|E(y_hat) - E(labelb_nousm)|

The last term is this project's, not the original's (``--hf_weight``, 0 by default): a weight-free stand-in
for LPIPS when no AlexNet is at hand. E is the local high-frequency amplitude (``hf_energy``): it compares how
much fine detail each neighbourhood holds, not where the detail is, so smoothing is penalised while L1 rewards
it. Its reference is the natural ground truth, not the unsharp-masked one.

Discriminator loss: mean(BCE(D(real), 1) + BCE(D(fake), 0)) over every logit pixel, the fake
without gradient to the generator. BCE is sigmoid cross-entropy on logits.
"""
import dataclasses
import math

import tensorflow as tf

from metaf2n_tf.data.sharpen import gaussian_kernel_1d

TERMS = ("l1", "lpips", "gan", "mask", "hf")
# hf_energy: Gaussian sigmas (HR pixels) of the low-pass removed from the image, and of the window the
# squared remainder is averaged over; kernels reach 3 sigma.
HF_SIGMA = 1.0
HF_WINDOW_SIGMA = 3.0


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Weights of the outer-loss terms (the original's 1, 0.5, 0.1, 0.002)."""

    l1: float = 1.0
    lpips: float = 0.5
    gan: float = 0.1
    mask: float = 0.002
    hf: float = 0.0


def bce(logits, target):
    """Mean sigmoid cross-entropy of ``logits`` against a constant label (1 real, 0 fake)."""
    labels = tf.fill(tf.shape(logits), tf.constant(target, logits.dtype))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def mask_regularizer(mask):
    """``mean((W - 1)^2) / 2``: keeps MaskNet's weights near one."""
    return tf.reduce_mean(tf.square(mask - 1.0)) / 2.0


def _gaussian_blur_valid(images, sigma):
    """Separable Gaussian blur (radius ceil(3 sigma), weights summing to 1) of [N, H, W, C], VALID borders."""
    taps = tf.cast(gaussian_kernel_1d(2 * int(math.ceil(3 * sigma)) + 1, sigma), images.dtype)
    channels = images.shape[-1]
    rows = tf.tile(tf.reshape(taps, [-1, 1, 1, 1]), [1, 1, channels, 1])
    cols = tf.tile(tf.reshape(taps, [1, -1, 1, 1]), [1, 1, channels, 1])
    images = tf.nn.depthwise_conv2d(images, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(images, cols, [1, 1, 1, 1], "VALID")


def hf_energy(images, sigma=HF_SIGMA, window_sigma=HF_WINDOW_SIGMA, eps=1e-6):
    """Local high-frequency amplitude sqrt(G_w * (x - G_s * x)^2 + eps) per channel, on the VALID region
    (3 * (sigma + window_sigma) pixels, rounded up per kernel, shorter on each side)."""
    images = tf.convert_to_tensor(images)
    low = _gaussian_blur_valid(images, sigma)
    crop = int(math.ceil(3 * sigma))
    high = images[:, crop:-crop, crop:-crop, :] - low
    return tf.sqrt(_gaussian_blur_valid(tf.square(high), window_sigma) + eps)


def hf_distance(sr, reference):
    """``mean|hf_energy(sr) - hf_energy(reference)|``: 0 for equal detail, > 0 for smoothing or extra detail."""
    return tf.reduce_mean(tf.abs(hf_energy(sr) - hf_energy(reference)))


def outer_terms(sr, labelb, fake_logits, mask, lpips_fn=None, natural=None):
    """The unweighted outer-loss terms ``{'l1', 'lpips', 'gan', 'mask', 'hf'}`` of one task.

    Args:
        sr: adapted SR output on the natural LQ patches [T, H, W, 3].
        labelb: the (sharpened) natural ground truth [T, H, W, 3].
        fake_logits: discriminator logits of ``sr`` (gradient flows through D to ``sr``).
        mask: MaskNet's W of the task's faces.
        lpips_fn: callable (a, b) -> per-image distance [T]; None gives a zero term (``--lpips_weight 0``).
        natural: the unsharpened ground truth, reference of the ``hf`` term; None gives a zero term.
    """
    zero = tf.zeros([], sr.dtype)
    return {
        "l1": tf.reduce_mean(tf.abs(labelb - sr)),
        "lpips": zero if lpips_fn is None else tf.reduce_mean(lpips_fn(labelb, sr)),
        "gan": bce(fake_logits, 1.0),
        "mask": mask_regularizer(mask),
        "hf": zero if natural is None else hf_distance(sr, natural),
    }


def outer_loss(terms, weights):
    """The weighted sum of ``outer_terms`` with :class:`LossWeights`."""
    return tf.add_n([getattr(weights, name) * terms[name] for name in TERMS])


def discriminator_loss(real_logits, fake_logits):
    """``mean(BCE(D(real), 1) + BCE(D(fake), 0))``; pass ``fake_logits`` of a detached fake."""
    return bce(real_logits, 1.0) + bce(fake_logits, 0.0)
