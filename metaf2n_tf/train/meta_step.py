"""The MetaF2N meta step (docs/upstream.md, "Meta-training"): learn SR + MaskNet weights so that one SGD step on a task's faces,
weighted by MaskNet, makes the SR model best on that task's natural patches.

Per task: W = MaskNet(bicubic(inputa), labela); theta' = theta - task_lr * grad mean(W |labela - f_theta(inputa)|)
(``models.fast_weights.inner_step``, task_iter times, same W); y_hat = f_theta'(inputb); outer loss of ``losses``. The
gradient reaches theta through theta' and MaskNet through W: second-order MAML, or first-order when the inner
gradient is wrapped in ``stop_gradient`` (then MaskNet learns from its regulariser only, as in the original).

Variants: ``MetaModels.train_sr`` False keeps theta fixed (only MaskNet, and the rates below, learn; they
learn through the second-order path only, apart from MaskNet's regulariser); ``MetaModels.inner_lrs``
(MAML++ LSLR) holds one variable v_i per SR weight tensor, and the inner step uses the rate
task_lr * exp(v_i) for tensor i instead of task_lr (v_i = 0 at the start: the original rule).

Tasks are processed one at a time in a ``tf.while_loop`` (one task's graph, one task's activations in memory)
and their gradients summed, each divided by the GLOBAL number of tasks, so that summing over replicas (what
Keras optimizers do under ``tf.distribute``) gives the mean over the meta-batch. Everything runs eagerly
too; ``train.loop`` compiles it. No logging here.
"""
import dataclasses

import keras
import tensorflow as tf

from metaf2n_tf.models.fast_weights import face_weights, inner_step, sr_forward, weighted_l1
from metaf2n_tf.train.losses import TERMS, LossWeights, discriminator_loss, outer_loss, outer_terms

# What ``meta_gradients`` reports, each the mean over the meta-batch's tasks.
LOSS_KEYS = ("objective",) + TERMS + ("inner", "disc")
# Images of one task for summaries, in the order they are shown.
IMAGE_KEYS = ("inputa", "labela", "mask", "inputb", "sr_before", "sr_adapted", "labelb", "labelb_nousm")


@dataclasses.dataclass(frozen=True)
class MetaModels:
    """The networks of meta-training; ``lpips`` is None when the LPIPS term is switched off."""

    sr: keras.Model
    mask: keras.Model
    disc: keras.Model
    lpips: keras.Model | None = None
    train_sr: bool = True
    inner_lrs: tuple = ()  # LSLR: one log-rate variable per SR trainable tensor, or () for task_lr everywhere

    def lpips_distance(self, a, b):
        """Per-image LPIPS of two [N, H, W, 3] batches in [0, 1]."""
        return self.lpips([a, b], training=False)

    def generator_variables(self):
        """What the meta optimizer updates: RRDBNet (unless frozen) then MaskNet weights."""
        sr = list(self.sr.trainable_variables) if self.train_sr else []
        return sr + list(self.mask.trainable_variables)

    def meta_variables(self):
        """Everything the outer loss trains: ``generator_variables()`` then the LSLR log-rates."""
        return self.generator_variables() + list(self.inner_lrs)


def make_inner_lrs(sr_model):
    """LSLR log-rate variables, one per SR trainable tensor, all zero (rate = task_lr at the start)."""
    return tuple(tf.Variable(0.0, name=f"inner_log_lr_{i}") for i in range(len(sr_model.trainable_variables)))


def inner_rates(models, task_lr):
    """The inner step's learning rate: ``task_lr``, or with LSLR the list ``task_lr * exp(v_i)``."""
    if not models.inner_lrs:
        return task_lr
    return [task_lr * tf.exp(v) for v in models.inner_lrs]


@dataclasses.dataclass(frozen=True)
class MetaSettings:
    """Inner loop (task_lr, task_iter) and outer-loss weights."""

    task_lr: float = 1e-2
    task_iter: int = 1
    loss_weights: LossWeights = LossWeights()


def sr_values(models):
    """The SR weights as tensors (the meta-parameters theta the inner loop starts from)."""
    return [tf.convert_to_tensor(v) for v in models.sr.trainable_variables]


def _lpips_fn(models):
    return None if models.lpips is None else models.lpips_distance


def task_losses(models, theta, task, settings, first_order=False):
    """Adapts theta to one task and scores it; returns ``{key: scalar}`` for ``LOSS_KEYS``.

    ``objective`` is what the generator minimises: the outer loss averaged over the inner steps (one step in
    the original); ``l1``..``mask`` are the terms after the last step; ``inner`` the face loss before the
    first step; ``disc`` the discriminator loss on the last adapted output. The discriminator logits of y_hat
    are shared by the GAN term and ``disc``: the fake has no path to D's weights except through D itself,
    so D's gradient equals the one with a detached fake.
    """
    mask = face_weights(models.mask, task["inputa"], task["labela"])
    rates = inner_rates(models, settings.task_lr)
    fast, objectives, face_losses = theta, [], []
    for _ in range(settings.task_iter):
        fast, face_loss = inner_step(models.sr, fast, task["inputa"], task["labela"], mask, rates, first_order)
        face_losses.append(face_loss)
        sr = sr_forward(models.sr, fast, task["inputb"])
        fake_logits = models.disc(sr, training=False)
        terms = outer_terms(sr, task["labelb"], fake_logits, mask, _lpips_fn(models), task["labelb_nousm"])
        objectives.append(outer_loss(terms, settings.loss_weights))
    disc = discriminator_loss(models.disc(task["labelb_nousm"], training=False), fake_logits)
    return {"objective": tf.add_n(objectives) / len(objectives), **terms, "inner": face_losses[0], "disc": disc}


def task_gradients(models, theta, task, settings, first_order=False):
    """One task's (gradients of ``models.meta_variables()`` [theta unless frozen, MaskNet, LSLR],
    discriminator gradients, losses)."""
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(theta)
        losses = task_losses(models, theta, task, settings, first_order)
    sources = (theta if models.train_sr else []) + list(models.mask.trainable_variables) + list(models.inner_lrs)
    generator = tape.gradient(losses["objective"], sources,
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
    disc = tape.gradient(losses["disc"], models.disc.trainable_variables)
    del tape
    return generator, disc, losses


def meta_gradients(models, batch, settings, global_tasks, first_order=False):
    """Gradients of this replica's tasks, each divided by ``global_tasks``; returns (generator, disc, losses).

    Args:
        models: :class:`MetaModels`.
        batch: ``{key: [tasks, T, ...]}`` with inputa, labela, inputb, labelb, labelb_nousm (finished tasks).
        settings: :class:`MetaSettings`.
        global_tasks: tasks in the whole meta-batch, over all replicas.
        first_order: stop the gradient at the inner gradient (first-order MAML).

    Returns:
        Generator gradients (in ``models.meta_variables()`` order), discriminator gradients (in
        ``models.disc.trainable_variables`` order) and ``{key: mean over tasks}`` for ``LOSS_KEYS``, all
        as this replica's share of the global mean.
    """
    theta = sr_values(models)
    scale = 1.0 / float(global_tasks)
    local_tasks = batch["inputa"].shape[0]
    zeros = ([tf.zeros_like(v) for v in models.meta_variables()],
             [tf.zeros_like(v) for v in models.disc.trainable_variables],
             {k: tf.zeros([], theta[0].dtype) for k in LOSS_KEYS})

    def body(i, acc):
        task = {k: v[i] for k, v in batch.items()}
        generator, disc, losses = task_gradients(models, theta, task, settings, first_order)
        return i + 1, ([a + scale * g for a, g in zip(acc[0], generator)],
                       [a + scale * g for a, g in zip(acc[1], disc)],
                       {k: acc[2][k] + scale * losses[k] for k in LOSS_KEYS})

    _, (generator, disc, losses) = tf.while_loop(lambda i, _: i < local_tasks, body, (tf.constant(0), zeros))
    return generator, disc, losses


def meta_step(models, optimizers, batch, settings, global_tasks, first_order=False):
    """``meta_gradients`` then Adam on SR + MaskNet and on the discriminator; returns the losses.

    ``optimizers`` = (generator optimizer, discriminator optimizer[, LSLR optimizer when
    ``models.inner_lrs``]). Spectral-norm ``u`` vectors are updated by the caller before this step
    (``models.discriminator.update_spectral_norms``).
    """
    generator, disc, losses = meta_gradients(models, batch, settings, global_tasks, first_order)
    count = len(models.generator_variables())
    optimizers[0].apply_gradients(zip(generator[:count], models.generator_variables()))
    optimizers[1].apply_gradients(zip(disc, models.disc.trainable_variables))
    if models.inner_lrs:
        optimizers[2].apply_gradients(zip(generator[count:], models.inner_lrs))
    return losses


def task_diagnostics(models, task, settings):
    """One task before and after adaptation, for summaries: (``{name: scalar}``, ``{name: images}``).

    Scalars: face loss before / after the inner steps, outer terms and loss before adaptation (theta) and
    after (theta'), and W's min / mean / max. Images: see ``IMAGE_KEYS`` (W scaled to [0, 1] by its max).
    """
    theta = sr_values(models)
    mask = face_weights(models.mask, task["inputa"], task["labela"])
    rates = inner_rates(models, settings.task_lr)
    fast, face_losses = theta, []
    for _ in range(settings.task_iter):
        fast, face_loss = inner_step(models.sr, fast, task["inputa"], task["labela"], mask, rates, True)
        face_losses.append(face_loss)
    scalars = {"inner_before": face_losses[0],
               "inner_after": weighted_l1(sr_forward(models.sr, fast, task["inputa"]), task["labela"], mask),
               "mask_min": tf.reduce_min(mask), "mask_mean": tf.reduce_mean(mask), "mask_max": tf.reduce_max(mask)}
    images = {}
    for name, weights in (("before", theta), ("adapted", fast)):
        sr = sr_forward(models.sr, weights, task["inputb"])
        terms = outer_terms(sr, task["labelb"], models.disc(sr, training=False), mask, _lpips_fn(models),
                            task["labelb_nousm"])
        scalars.update({f"{term}_{name}": value for term, value in terms.items()})
        scalars[f"outer_{name}"] = outer_loss(terms, settings.loss_weights)
        images[f"sr_{name}"] = tf.clip_by_value(sr, 0.0, 1.0)
    images["mask"] = mask / tf.maximum(tf.reduce_max(mask), 1e-12)
    images.update({k: task[k] for k in ("inputa", "labela", "inputb", "labelb", "labelb_nousm")})
    return scalars, {k: images[k] for k in IMAGE_KEYS}
