"""The meta step: its inner step vs the independent TF1 graph's SGD, second-order gradient vs finite differences."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import metaf2n_tf  # noqa: F401
from metaf2n_tf.adapt import tta
from metaf2n_tf.models.discriminator import unet_discriminator_sn
from metaf2n_tf.models.lpips import lpips_model
from metaf2n_tf.models.masknet import legacy_bicubic_resize, masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.train.losses import LossWeights, mask_regularizer
from metaf2n_tf.train.meta_step import (
    IMAGE_KEYS, MetaModels, MetaSettings, meta_gradients, sr_values, task_diagnostics, task_gradients, task_losses)
from metaf2n_tf.weights.assign import split_scopes
from metaf2n_tf.weights.sources import Weights, build_models
from tests.reference_tf1 import ReferenceGraph, random_tensors


def make_task(rng, tasks, lq_face, lq_natural, dtype=np.float32):
    shapes = {"inputa": lq_face, "labela": 4 * lq_face, "inputb": lq_natural, "labelb": 4 * lq_natural,
              "labelb_nousm": 4 * lq_natural}
    return {k: tf.constant(rng.random((tasks, 2, s, s, 3)).astype(dtype)) for k, s in shapes.items()}


def test_inner_step_and_outer_terms_match_tf1_sgd():
    lr = 1.0
    tensors = random_tensors(num_block=1, seed=3)
    sr_model, mask_model = build_models(Weights(*split_scopes(tensors), "test"))
    models = MetaModels(sr_model, mask_model, unet_discriminator_sn(num_feat=8))
    task = {k: v[0] for k, v in make_task(np.random.default_rng(0), 1, 8, 16).items()}
    losses = task_losses(models, sr_values(models), task, MetaSettings(task_lr=lr))
    graph = ReferenceGraph(tensors, lr=lr)
    a, b = task["inputa"].numpy(), task["labela"].numpy()
    before = np.mean(np.abs(task["labelb"].numpy() - np.stack([graph.sr(x) for x in task["inputb"].numpy()])))
    assert np.isclose(float(losses["inner"]), graph.sgd_step(a, b), rtol=1e-5)
    adapted = np.stack([graph.sr(x) for x in task["inputb"].numpy()])
    l1 = np.mean(np.abs(task["labelb"].numpy() - adapted))
    assert abs(l1 - before) > 1e-3  # the inner step moved the outer loss: the comparison has teeth
    assert np.isclose(float(losses["l1"]), l1, rtol=1e-5)
    w = graph.mask_values(a, b)
    assert np.isclose(float(losses["mask"]), np.mean((w - 1.0) ** 2) / 2, rtol=1e-5)
    assert float(losses["lpips"]) == 0.0  # no LPIPS model: the term is off


def _mask_input_any_dtype(lq, hq):
    # masknet.mask_input returns float32 (ResizeBicubic's output); the LQ face is data, not differentiated,
    # so resizing it in float32 and casting keeps the float64 check exact where it matters.
    up = legacy_bicubic_resize(tf.cast(lq, tf.float32), tf.shape(hq)[1:3])
    return tf.concat([tf.cast(up, hq.dtype), hq], axis=-1)


@pytest.fixture(scope="module")
def float64_case():
    policy, floatx = keras.config.dtype_policy(), keras.config.floatx()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        keras.utils.set_random_seed(2)
        models = MetaModels(rrdbnet(num_block=1, num_feat=8, num_grow_ch=4), masknet(),
                            unet_discriminator_sn(num_feat=4), lpips_model())
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    batch = make_task(np.random.default_rng(1), 2, 4, 8, np.float64)
    settings = MetaSettings(task_lr=0.5, loss_weights=LossWeights(mask=1e-4))
    return models, batch, settings


@pytest.fixture()
def float64_mask_input(monkeypatch):
    monkeypatch.setattr(tta, "mask_input", _mask_input_any_dtype)


def _directions(values, seed):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.standard_normal(v.shape) / np.sqrt(v.shape.num_elements()), tf.float64) for v in values]


def _dot(grads, directions):
    return float(sum(tf.reduce_sum(g * d) for g, d in zip(grads, directions)))


def _finite_difference(objective, eps=1e-6):
    return (objective(eps) - objective(-eps)) / (2 * eps)


def test_second_order_gradient_equals_finite_differences(float64_case, float64_mask_input):
    models, batch, settings = float64_case
    task = {k: v[0] for k, v in batch.items()}
    theta = sr_values(models)
    mask_vars = models.mask.trainable_variables
    saved = [v.numpy() for v in mask_vars]
    second, _, _ = task_gradients(models, theta, task, settings, first_order=False)
    first, _, _ = task_gradients(models, theta, task, settings, first_order=True)
    n = len(theta)

    d_sr = _directions(theta, 0)
    fd_sr = _finite_difference(lambda e: float(task_losses(
        models, [t + e * d for t, d in zip(theta, d_sr)], task, settings)["objective"]))

    d_mask = _directions(mask_vars, 1)

    def mask_objective(e):
        for v, s, d in zip(mask_vars, saved, d_mask):
            v.assign(s + e * d.numpy())
        return float(task_losses(models, theta, task, settings)["objective"])

    fd_mask = _finite_difference(mask_objective)
    for v, s in zip(mask_vars, saved):
        v.assign(s)

    # The SR path crosses LeakyReLU / |x| kinks close to theta: measured agreement 1e-4 there, 3e-6 for MaskNet.
    assert np.isclose(_dot(second[:n], d_sr), fd_sr, rtol=1e-3)
    assert np.isclose(_dot(second[n:], d_mask), fd_mask, rtol=1e-5)
    # First order drops the Hessian term of theta' = theta - lr * grad: 8 % off for SR, MaskNet sees only W's
    # regulariser (-6e-5 here against -0.157).
    assert abs(_dot(first[:n], d_sr) - fd_sr) > 3e-2 * abs(fd_sr)
    assert abs(_dot(first[n:], d_mask) - fd_mask) > 0.5 * abs(fd_mask)


def test_first_order_masknet_learns_from_its_regulariser_only(float64_case, float64_mask_input):
    models, batch, settings = float64_case
    task = {k: v[0] for k, v in batch.items()}
    first, _, _ = task_gradients(models, sr_values(models), task, settings, first_order=True)
    with tf.GradientTape() as tape:
        mask = tta.face_weights(models.mask, task["inputa"], task["labela"])
        reg = settings.loss_weights.mask * mask_regularizer(mask)
    expected = tape.gradient(reg, models.mask.trainable_variables)
    for got, want in zip(first[len(models.sr.trainable_variables):], expected):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9, atol=1e-15)


def test_meta_gradients_average_the_tasks(float64_case, float64_mask_input):
    models, batch, settings = float64_case
    generator, disc, losses = meta_gradients(models, batch, settings, global_tasks=2)
    per_task = [task_gradients(models, sr_values(models), {k: v[i] for k, v in batch.items()}, settings)
                for i in range(2)]
    for got, a, b in zip(generator + disc, per_task[0][0] + per_task[0][1], per_task[1][0] + per_task[1][1]):
        np.testing.assert_allclose(got.numpy(), (a.numpy() + b.numpy()) / 2, rtol=1e-9, atol=1e-15)
    assert np.isclose(float(losses["objective"]),
                      (float(per_task[0][2]["objective"]) + float(per_task[1][2]["objective"])) / 2, rtol=1e-12)


def test_diagnostics_report_before_and_after(float64_case, float64_mask_input):
    models, batch, settings = float64_case
    task = {k: v[0] for k, v in batch.items()}
    scalars, images = task_diagnostics(models, task, settings)
    losses = task_losses(models, sr_values(models), task, settings)
    assert np.isclose(float(scalars["inner_before"]), float(losses["inner"]), rtol=1e-9)
    assert np.isclose(float(scalars["outer_adapted"]), float(losses["objective"]), rtol=1e-9)
    assert float(scalars["inner_after"]) < float(scalars["inner_before"])  # the SGD step lowers the face loss
    assert list(images) == list(IMAGE_KEYS) and images["mask"].shape == (2, 16, 16, 1)
