"""Test-time adaptation: a few gradient steps of the SR model on (LQ face, restored HQ face) patches.

Everything here works on *values*: ``weights`` is the list of SR tensors in ``model.trainable_variables``
order, run through ``model.stateless_call``; the loaded Keras variables are never changed, so each
image starts again from the same weights. The same ``inner_step`` is the MAML inner loop of training.
"""
import sys

import tensorflow as tf

# The fast-weight functions live one layer down (train.meta_step uses them too); importable from here as before.
from metaf2n_tf.models.fast_weights import face_loss_and_grads, face_weights, inner_step, sr_forward, weighted_l1

__all__ = ["OPTIMIZERS", "Adapter", "adam_init", "adam_step", "face_loss_and_grads", "face_weights",
           "inner_step", "sr_forward", "weighted_l1"]

OPTIMIZERS = ("sgd", "adam")


def adam_init(weights):
    return (tf.constant(0.0), [tf.zeros_like(w) for w in weights], [tf.zeros_like(w) for w in weights])


def adam_step(model, weights, state, lq, hq, mask, lr, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """One Adam step on the weight values (TF1 AdamOptimizer's update rule); returns (weights, state, loss).

    Written out because Keras 3's ``Optimizer.stateless_apply`` raises on the TensorFlow backend ("not
    supported with the TensorFlow backend (as it is incompatible with tf.distribute)", Keras 3 with TF 2.21),
    and the weights here are values, not variables. ``tests/adapt/test_tta.py`` checks it against TF1's
    ``AdamOptimizer``.
    """
    loss, grads = face_loss_and_grads(model, weights, lq, hq, mask)
    t, m, v = state
    t = t + 1.0
    m = [beta1 * mi + (1.0 - beta1) * g for mi, g in zip(m, grads)]
    v = [beta2 * vi + (1.0 - beta2) * tf.square(g) for vi, g in zip(v, grads)]
    lr_t = lr * tf.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    weights = [w - lr_t * mi / (tf.sqrt(vi) + epsilon) for w, mi, vi in zip(weights, m, v)]
    return weights, (t, m, v), loss


class Adapter:
    """Compiled adaptation and inference for one SR model (and optional MaskNet).

    ``adapt`` returns new weight values; ``forward`` runs the model with any weight values.
    Shapes are left dynamic so images and face batches of any size reuse the same graphs.
    """

    def __init__(self, sr_model, mask_model=None, optimizer="sgd", lr=0.01, warn=True, rates=None):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        self.sr_model = sr_model
        self.mask_model = mask_model
        self.optimizer = optimizer
        self.lr = float(lr)
        # learned per-tensor SGD rates (LSLR, stored with meta-trained weights) replace lr for sgd
        self.rates = None if rates is None else [float(r) for r in rates]
        sgd_lr = self.lr if self.rates is None else self.rates
        if mask_model is None and warn:
            print("note: the weights have no MaskNet: face loss weights W = 1", file=sys.stderr)
        image = tf.TensorSpec([None, None, None, 3], tf.float32)
        self._mask = tf.function(lambda lq, hq: face_weights(mask_model, lq, hq), input_signature=[image, image])
        self._forward = tf.function(lambda w, x: sr_forward(sr_model, w, x), reduce_retracing=True)
        self._sgd = tf.function(
            lambda w, lq, hq, m: inner_step(sr_model, w, lq, hq, m, sgd_lr), reduce_retracing=True
        )
        self._adam = tf.function(
            lambda w, s, lq, hq, m: adam_step(sr_model, w, s, lq, hq, m, self.lr), reduce_retracing=True
        )
        self._loss = tf.function(
            lambda w, lq, hq, m: weighted_l1(sr_forward(sr_model, w, lq), hq, m), reduce_retracing=True
        )

    def initial_weights(self):
        """The loaded SR weights as a list of tensors (a snapshot: later adaptation never changes them)."""
        return [tf.convert_to_tensor(v.value) for v in self.sr_model.trainable_variables]

    def adapt(self, weights, lq, hq, steps, progress=None):
        """``steps`` gradient steps on (lq [N,h,w,3], hq [N,4h,4w,3]) in [0,1]; returns (weights, losses).

        ``losses`` holds the face loss before each step and after the last one. ``progress`` (optional)
        is called as ``progress(i, steps)`` after step i (1-based).
        """
        lq = tf.convert_to_tensor(lq, tf.float32)
        hq = tf.convert_to_tensor(hq, tf.float32)
        mask = self._mask(lq, hq)
        losses = []
        state = adam_init(weights) if self.optimizer == "adam" else None
        for _ in range(steps):
            if self.optimizer == "sgd":
                weights, loss = self._sgd(weights, lq, hq, mask)
            else:
                weights, state, loss = self._adam(weights, state, lq, hq, mask)
            losses.append(float(loss))
            if progress is not None:
                progress(len(losses), steps)
        if steps:
            losses.append(float(self._loss(weights, lq, hq, mask)))
        return weights, losses

    def forward(self, weights, lq):
        """SR of a batch [N,h,w,3] in [0,1] with the given weights -> [N,4h,4w,3] (unclamped)."""
        return self._forward(weights, tf.convert_to_tensor(lq, tf.float32))
