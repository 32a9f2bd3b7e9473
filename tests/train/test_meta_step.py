"""The meta step vs the original's task as an independent TF1 graph (inner SGD, outer loss, MAML gradients,
diagnostics), and the second-order gradient vs finite differences in float64."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import metaf2n_tf  # noqa: F401
from metaf2n_tf.models import fast_weights
from metaf2n_tf.models.discriminator import unet_discriminator_sn
from metaf2n_tf.models.lpips import lpips_model
from metaf2n_tf.models.masknet import legacy_bicubic_resize, masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.train.losses import LossWeights
from metaf2n_tf.train.meta_step import (
    IMAGE_KEYS, MetaModels, MetaSettings, meta_gradients, sr_values, task_diagnostics, task_gradients, task_losses)
from metaf2n_tf.weights.assign import split_scopes
from metaf2n_tf.weights.names import model_tf1_names
from metaf2n_tf.weights.sources import Weights, build_models
from tests.reference_tf1 import ReferenceGraph, random_tensors
from tests.train.test_losses import np_hf_energy


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
    # the hf term: adapted output against the natural (unsharpened) ground truth
    hf = np.mean(np.abs(np_hf_energy(adapted) - np_hf_energy(task["labelb_nousm"].numpy())))
    assert np.isclose(float(losses["hf"]), hf, rtol=1e-4)


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
    monkeypatch.setattr(fast_weights, "mask_input", _mask_input_any_dtype)


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


# ---- meta gradients and diagnostics vs the original's task written as a TF1 graph (tests/reference_tf1.py) ----

LR, MASK_WEIGHT = 0.5, 0.01


@pytest.fixture(scope="module")
def tf1_case():
    tensors = random_tensors(num_block=1, seed=3, num_feat=8, grow=4)
    sr_model, mask_model = build_models(Weights(*split_scopes(tensors), "test"))
    models = MetaModels(sr_model, mask_model, unet_discriminator_sn(num_feat=4))
    settings = MetaSettings(task_lr=LR, loss_weights=LossWeights(gan=0.0, mask=MASK_WEIGHT))  # no LPIPS model
    batch = make_task(np.random.default_rng(0), 2, 8, 16)
    names = {v.path: n for model in (sr_model, mask_model) for v, n in model_tf1_names(model)}
    return models, settings, batch, ReferenceGraph(tensors, lr=LR), names


@pytest.mark.parametrize("first_order", [False, True])
def test_meta_gradients_match_tf1_maml(tf1_case, first_order):
    models, settings, batch, graph, names = tf1_case
    generator, _, losses = meta_gradients(models, batch, settings, global_tasks=2, first_order=first_order)
    ref = [graph.maml_task({k: v[i] for k, v in batch.items()}, LR, MASK_WEIGHT, first_order) for i in range(2)]
    want = {n: (ref[0]["grads"][n] + ref[1]["grads"][n]) / 2 for n in ref[0]["grads"]}
    scale = max(np.abs(w).max() for w in want.values())
    for var, got in zip(models.generator_variables(), generator):
        np.testing.assert_allclose(got.numpy(), want[names[var.path]], rtol=1e-3, atol=1e-4 * scale,
                                   err_msg=names[var.path])
    assert np.isclose(float(losses["objective"]), (ref[0]["objective"] + ref[1]["objective"]) / 2, rtol=1e-5)
    if first_order:  # MaskNet then learns from its regulariser only: its TF1 gradient differs from second order
        second = graph.maml_task({k: v[0] for k, v in batch.items()}, LR, MASK_WEIGHT, False)["grads"]
        assert np.abs(second["Mask/conv8/kernel"] - ref[0]["grads"]["Mask/conv8/kernel"]).max() > 1e-3 * scale


def test_diagnostics_match_tf1(tf1_case):
    models, settings, batch, graph, _ = tf1_case
    task = {k: v[0] for k, v in batch.items()}
    scalars, images = task_diagnostics(models, task, settings)
    ref = graph.maml_task(task, LR, MASK_WEIGHT, first_order=True)
    for name, key in (("inner_before", "inner_before"), ("inner_after", "inner_after"),
                      ("outer_before", "outer_before"), ("outer_adapted", "objective")):
        assert np.isclose(float(scalars[name]), ref[key], rtol=1e-5), name
    assert ref["inner_after"] < ref["inner_before"]  # the SGD step lowers the face loss
    w = graph.mask_values(task["inputa"].numpy(), task["labela"].numpy())
    np.testing.assert_allclose(images["mask"].numpy(), w / w.max(), atol=1e-5)
    assert np.isclose(float(scalars["mask_mean"]), w.mean(), rtol=1e-5)
    assert list(images) == list(IMAGE_KEYS) and images["mask"].shape == (2, 32, 32, 1)


def test_dead_masknet_stops_the_step_and_gets_no_gradient(tf1_case):
    # MaskNet's last layer is a ReLU: with its bias far below any conv output, W = 0 on every pixel, so the
    # weighted face loss is 0, the inner step leaves theta as it is, and d ReLU / dx = 0 below zero leaves every
    # MaskNet tensor without gradient, the regulariser mean((W - 1)^2) / 2 = 1/2 included: W = 0 is a dead end.
    models, settings, batch, _, names = tf1_case
    bias = models.mask.get_layer("conv8").bias
    saved = bias.numpy()
    bias.assign(np.full_like(saved, -1e3))
    try:
        generator, _, losses = meta_gradients(models, batch, settings, global_tasks=2, first_order=False)
        scalars, _ = task_diagnostics(models, {k: v[0] for k, v in batch.items()}, settings)
    finally:
        bias.assign(saved)
    assert float(losses["inner"]) == 0.0 and float(losses["mask"]) == 0.5
    assert float(scalars["outer_adapted"]) == float(scalars["outer_before"])
    grads = {names[v.path]: g.numpy() for v, g in zip(models.generator_variables(), generator)}
    mask_grads = [g for n, g in grads.items() if n.startswith("Mask/")]
    assert len(mask_grads) == 16 and not any(np.any(g) for g in mask_grads)
    # the outer loss still trains theta: only MaskNet is cut off
    assert any(np.any(g) for n, g in grads.items() if n.startswith("MODEL/"))
