"""Meta-training losses of the original (docs/upstream.md, "Meta-training"); loss weights are arguments, never literals.

Outer loss of one task on its natural patch, with the adapted SR output y_hat and MaskNet's W:

    L_out = l1_weight * mean|labelb - y_hat| + lpips_weight * mean LPIPS(labelb, y_hat)
            + gan_weight * mean BCE(D(y_hat), 1) + mask_weight * mean((W - 1)^2) / 2

Discriminator loss: mean(BCE(D(real), 1) + BCE(D(fake), 0)) over every logit pixel, the fake
without gradient to the generator. BCE is sigmoid cross-entropy on logits.
"""
import dataclasses

import tensorflow as tf

TERMS = ("l1", "lpips", "gan", "mask")


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Weights of the outer-loss terms (the original's 1, 0.5, 0.1, 0.002)."""

    l1: float = 1.0
    lpips: float = 0.5
    gan: float = 0.1
    mask: float = 0.002


def bce(logits, target):
    """Mean sigmoid cross-entropy of ``logits`` against a constant label (1 real, 0 fake)."""
    labels = tf.fill(tf.shape(logits), tf.constant(target, logits.dtype))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def mask_regularizer(mask):
    """``mean((W - 1)^2) / 2``: keeps MaskNet's weights near one."""
    return tf.reduce_mean(tf.square(mask - 1.0)) / 2.0


def outer_terms(sr, labelb, fake_logits, mask, lpips_fn=None):
    """The unweighted outer-loss terms ``{'l1', 'lpips', 'gan', 'mask'}`` of one task.

    Args:
        sr: adapted SR output on the natural LQ patches [T, H, W, 3].
        labelb: the (sharpened) natural ground truth [T, H, W, 3].
        fake_logits: discriminator logits of ``sr`` (gradient flows through D to ``sr``).
        mask: MaskNet's W of the task's faces.
        lpips_fn: callable (a, b) -> per-image distance [T]; None gives a zero term (``--lpips_weight 0``).
    """
    lpips = tf.zeros([], sr.dtype) if lpips_fn is None else tf.reduce_mean(lpips_fn(labelb, sr))
    return {
        "l1": tf.reduce_mean(tf.abs(labelb - sr)),
        "lpips": lpips,
        "gan": bce(fake_logits, 1.0),
        "mask": mask_regularizer(mask),
    }


def outer_loss(terms, weights):
    """The weighted sum of ``outer_terms`` with :class:`LossWeights`."""
    return tf.add_n([getattr(weights, name) * terms[name] for name in TERMS])


def discriminator_loss(real_logits, fake_logits):
    """``mean(BCE(D(real), 1) + BCE(D(fake), 0))``; pass ``fake_logits`` of a detached fake."""
    return bce(real_logits, 1.0) + bce(fake_logits, 0.0)
