"""Meta-training variants: learned per-tensor inner rates (LSLR) and a frozen SR model (MaskNet only).

References: plain NumPy SGD for the per-tensor step, central finite differences (float64) for the
gradient of the outer loss with respect to the log-rates and to MaskNet, a hand-set MaskNet for W = 1.
"""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import metaf2n_tf  # noqa: F401
from metaf2n_tf.adapt import tta
from metaf2n_tf.models.discriminator import unet_discriminator_sn
from metaf2n_tf.models.masknet import legacy_bicubic_resize, masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.train.losses import LossWeights
from metaf2n_tf.train.loop import set_mask_to_ones
from metaf2n_tf.train.meta_step import (
    MetaModels, MetaSettings, inner_rates, make_inner_lrs, sr_values, task_gradients, task_losses)
from tests.train.test_meta_step import make_task


def _mask_input_any_dtype(lq, hq):
    up = legacy_bicubic_resize(tf.cast(lq, tf.float32), tf.shape(hq)[1:3])
    return tf.concat([tf.cast(up, hq.dtype), hq], axis=-1)


@pytest.fixture(scope="module")
def case():
    policy, floatx = keras.config.dtype_policy(), keras.config.floatx()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        keras.utils.set_random_seed(3)
        sr = rrdbnet(num_block=1, num_feat=8, num_grow_ch=4)
        models = MetaModels(sr, masknet(), unet_discriminator_sn(num_feat=4))
        rates = tuple(tf.Variable(tf.constant(v, tf.float64)) for v in
                      np.random.default_rng(4).uniform(-0.5, 0.5, len(sr.trainable_variables)))
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    batch = make_task(np.random.default_rng(5), 1, 4, 8, np.float64)
    settings = MetaSettings(task_lr=0.5, loss_weights=LossWeights(mask=1e-4))
    return models, rates, {k: v[0] for k, v in batch.items()}, settings


@pytest.fixture()
def float64_mask_input(monkeypatch):
    monkeypatch.setattr(tta, "mask_input", _mask_input_any_dtype)


def test_inner_step_with_per_tensor_rates_is_numpy_sgd(case, float64_mask_input):
    models, rates, task, settings = case
    lslr = dataclasses.replace(models, inner_lrs=rates)
    theta = sr_values(models)
    lr = inner_rates(lslr, settings.task_lr)
    mask = tta.face_weights(models.mask, task["inputa"], task["labela"])
    fast, _ = tta.inner_step(models.sr, theta, task["inputa"], task["labela"], mask, lr)
    _, grads = tta.face_loss_and_grads(models.sr, theta, task["inputa"], task["labela"], mask)
    for new, w, g, v in zip(fast, theta, grads, rates):
        np.testing.assert_allclose(new.numpy(), w.numpy() - 0.5 * np.exp(v.numpy()) * g.numpy(), rtol=1e-12)
    assert np.ptp([float(r) for r in lr]) > 0.1  # the rates differ per tensor: the check has teeth


def test_log_rate_gradient_equals_finite_differences(case, float64_mask_input):
    models, rates, task, settings = case
    lslr = dataclasses.replace(models, inner_lrs=rates)
    theta = sr_values(models)
    n_sr, n_mask = len(theta), len(models.mask.trainable_variables)
    for first_order in (False, True):
        grads, _, _ = task_gradients(lslr, theta, task, settings, first_order)
        assert len(grads) == n_sr + n_mask + len(rates)
        got = grads[n_sr + n_mask:]
        scale = max(abs(float(g)) for g in got)
        assert scale > 1e-4
        for i in (0, int(np.argmax([abs(float(g)) for g in got])), len(rates) - 1):
            saved = rates[i].numpy()

            def objective(e):
                rates[i].assign(saved + e)
                return float(task_losses(lslr, theta, task, settings, first_order)["objective"])

            fd = (objective(1e-6) - objective(-1e-6)) / 2e-6
            rates[i].assign(saved)
            # d/dv of L(theta - task_lr e^v g), the same in both orders (the rate multiplies g). The path
            # crosses LeakyReLU / |x| kinks: measured agreement 3e-4; a dropped e^v factor (0.6-1.6 here)
            # would be off by far more.
            assert np.isclose(float(got[i]), fd, rtol=2e-3, atol=1e-3 * scale), (first_order, i)


def test_frozen_sr_trains_masknet_and_rates_only(case, float64_mask_input):
    models, rates, task, settings = case
    frozen = dataclasses.replace(models, inner_lrs=rates, train_sr=False)
    assert frozen.generator_variables() == list(models.mask.trainable_variables)
    grads, _, _ = task_gradients(frozen, sr_values(models), task, settings)
    full, _, _ = task_gradients(dataclasses.replace(models, inner_lrs=rates), sr_values(models), task, settings)
    n_sr = len(models.sr.trainable_variables)
    assert len(grads) == len(full) - n_sr
    for a, b in zip(grads, full[n_sr:]):  # same MaskNet and rate gradients as in the full objective
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-15)


def test_make_inner_lrs_start_at_task_lr():
    sr = rrdbnet(num_block=1, num_feat=8, num_grow_ch=4)
    models = MetaModels(sr, masknet(), None, inner_lrs=make_inner_lrs(sr))
    assert len(models.inner_lrs) == len(sr.trainable_variables)
    np.testing.assert_allclose([float(r) for r in inner_rates(models, 0.01)], 0.01, rtol=1e-7)


def test_mask_ones_gives_unit_weights():
    mask = masknet()
    set_mask_to_ones(mask)
    x = np.random.default_rng(0).uniform(size=(2, 8, 8, 6)).astype(np.float32)
    np.testing.assert_array_equal(mask(x).numpy(), np.ones((2, 8, 8, 1), np.float32))
