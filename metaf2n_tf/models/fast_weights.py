"""The SR model run on weight *values* (fast weights) and the one inner SGD step of adaptation and meta-training.

``weights`` is the list of SR tensors in ``model.trainable_variables`` order, run through
``model.stateless_call``; the model's Keras variables are never changed. Test-time adaptation
(``adapt.tta``) and the MAML inner loop (``train.meta_step``) both build on these functions, so they live
below both:

    W = MaskNet(concat(bicubic(LQ), HQ))   (all ones without a MaskNet)
    loss(theta) = mean(W * |HQ - f_theta(LQ)|)
    theta' = theta - lr * grad loss(theta)
"""
import tensorflow as tf

from metaf2n_tf.models.masknet import mask_input


def weighted_l1(sr, hq, mask):
    """``mean(W * |HQ - SR(LQ)|)`` over all elements; W [N, H, W, 1] broadcasts over RGB."""
    return tf.reduce_mean(mask * tf.abs(hq - sr))


def face_weights(mask_model, lq, hq):
    """MaskNet's per-pixel weights W for the face loss, or all ones when there is no MaskNet."""
    if mask_model is None:
        return tf.ones_like(hq[..., :1])
    return mask_model(mask_input(lq, hq), training=False)


def sr_forward(model, weights, lq):
    """Runs the SR model with the given weight values (fast weights)."""
    out, _ = model.stateless_call(weights, [], lq, training=False)
    return out


def face_loss_and_grads(model, weights, lq, hq, mask, first_order=False):
    """The adaptation loss and its gradient with respect to the SR weight values.

    Under an enclosing tape the gradient is itself differentiable (second-order MAML);
    ``first_order`` wraps it in ``stop_gradient`` (first-order MAML).
    """
    with tf.GradientTape() as tape:
        tape.watch(weights)
        loss = weighted_l1(sr_forward(model, weights, lq), hq, mask)
    grads = tape.gradient(loss, weights)
    if first_order:
        grads = [tf.stop_gradient(g) for g in grads]
    return loss, grads


def inner_step(model, weights, lq, hq, mask, lr, first_order=False):
    """One plain SGD step ``theta - lr * grad`` (the original rule); returns (new weights, loss before).

    ``lr`` is one rate, or a list of one rate per weight tensor (learned per-tensor rates, MAML++ LSLR).
    """
    loss, grads = face_loss_and_grads(model, weights, lq, hq, mask, first_order)
    rates = lr if isinstance(lr, (list, tuple)) else [lr] * len(weights)
    return [w - r * g for w, g, r in zip(weights, grads, rates)], loss
