"""Meta-training variants: learned per-tensor inner rates (LSLR) and a frozen SR model (MaskNet only).

References: plain NumPy SGD for the per-tensor step, central finite differences (float64) for the
gradient of the outer loss with respect to the log-rates and to MaskNet, a hand-set MaskNet for W = 1.
"""
import dataclasses

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

import metaf2n_tf  # noqa: F401
from metaf2n_tf.models import fast_weights
from metaf2n_tf.models.discriminator import unet_discriminator_sn
from metaf2n_tf.models.masknet import masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.train.losses import LossWeights
from metaf2n_tf.train.loop import set_mask_to_ones
from metaf2n_tf.train.meta_step import (
    MetaModels, MetaSettings, inner_rates, make_inner_lrs, sr_values, task_gradients, task_losses)
from tests.train.test_meta_step import float64_mask_input, make_task  # noqa: F401  (a fixture)


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


def test_inner_step_with_per_tensor_rates_is_numpy_sgd(case, float64_mask_input):
    models, rates, task, settings = case
    lslr = dataclasses.replace(models, inner_lrs=rates)
    theta = sr_values(models)
    lr = inner_rates(lslr, settings.task_lr)
    mask = fast_weights.face_weights(models.mask, task["inputa"], task["labela"])
    fast, _ = fast_weights.inner_step(models.sr, theta, task["inputa"], task["labela"], mask, lr)
    _, grads = fast_weights.face_loss_and_grads(models.sr, theta, task["inputa"], task["labela"], mask)
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


@pytest.mark.slow
def test_frozen_lslr_run_exports_rates_that_test_py_uses(tmp_path):
    """main.py --freeze_sr --learn_inner_lr --mask_init ones, first-order: SR unchanged, rates moved, exported as LSLR/*,
    read back by test.py's loader in SR-variable order and applied per tensor by the Adapter."""
    import json
    import os

    import cv2

    from metaf2n_tf.adapt.tta import Adapter
    from metaf2n_tf.data import records
    from metaf2n_tf.weights import h5
    from metaf2n_tf.weights.sources import build_models, read_weights
    from tests.reference_tf1 import random_tensors
    from tests.train.test_loop import _script

    rng = np.random.default_rng(0)
    for prefix, size in (("whole_face", 64), ("back64", 64)):
        with records.ShardWriter(str(tmp_path / "rec"), prefix, 100) as writer:
            for _ in range(6):
                base = rng.integers(0, 256, (size // 8, size // 8, 3)).astype(np.uint8)
                writer.write(records.encode(cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC)))
            writer.close()
    init = random_tensors(num_block=1, seed=3)
    h5.write_h5(tmp_path / "init.h5", init)
    args = [f"--tfrecord_path0={tmp_path}/rec/whole_face*", f"--tfrecord_path1={tmp_path}/rec/back64*",
            "--face_size=64", "--natural_size=64", "--height=32", "--height1=32", "--restorer=gt",
            "--meta_batch_size=1", "--task_batch_size=2", "--num_block=1", f"--init_weights={tmp_path}/init.h5",
            "--lpips_weight=0", "--meta_iter=3", "--save_iter=3", "--print_iter=3", "--trial=1",
            f"--checkpoint_dir={tmp_path}/ck", f"--log_dir={tmp_path}/logs", "--freeze_sr", "--learn_inner_lr",
            "--inner_lr_lr=0.05", "--mask_init=ones", "--task_lr=0.02",
            "--second_order_grad_iter=1000"]  # first-order throughout, as the CPU recipe trains the rates
    main = _script("main")
    assert main.main(args + ["--step=0"]) == 0
    saved = json.load(open(tmp_path / "ck" / "Model1" / "config-0.json"))
    assert saved["meta"]["learn_inner_lr"] and saved["degradation"]["noise_range"] == [1.0, 30.0]
    assert main.main(args + [f"--export={tmp_path}/out/model"]) == 0

    weights = read_weights(str(tmp_path / "out" / "model"))
    for name, value in init.items():
        if name.startswith("MODEL/"):
            np.testing.assert_array_equal(weights.sr[name], value)  # --freeze_sr: SR as initialised
    sr_model, mask_model = build_models(weights)
    rates = weights.sgd_rates(sr_model)
    assert len(rates) == len(sr_model.trainable_variables)
    assert max(abs(r / 0.02 - 1) for r in rates) > 0.01  # 3 Adam steps at 0.05 on log-rates moved them
    assert mask_model is not None

    # --export FILE.h5 of this frozen run: an overlay without SR tensors, naming the init file as its base,
    # read back as the same SR (the init file's), MaskNet and rates as the TF1 export
    assert main.main(args + [f"--export={tmp_path}/out/overlay.h5"]) == 0
    stored, _ = h5.read_h5(tmp_path / "out" / "overlay.h5")
    assert stored and not [k for k in stored if k.startswith("MODEL/")]
    with h5py.File(tmp_path / "out" / "overlay.h5", "r") as f:
        assert f.attrs["base"] == str(tmp_path / "init.h5")
    overlay = read_weights(str(tmp_path / "out" / "overlay.h5"))
    for name, value in init.items():
        if name.startswith("MODEL/"):
            np.testing.assert_array_equal(overlay.sr[name], value)
    assert overlay.mask.keys() == weights.mask.keys() and overlay.inner_lr == pytest.approx(weights.inner_lr)
    for name, value in weights.mask.items():
        np.testing.assert_array_equal(overlay.mask[name], value)

    lq = rng.uniform(size=(2, 8, 8, 3)).astype(np.float32)
    hq = rng.uniform(size=(2, 32, 32, 3)).astype(np.float32)
    adapter = Adapter(sr_model, mask_model, rates=rates)
    base = adapter.initial_weights()
    adapted, _ = adapter.adapt(base, lq, hq, 1)
    with tf.GradientTape() as tape:
        tape.watch(base)
        mask = mask_model(fast_weights.mask_input(lq, hq))
        loss = tf.reduce_mean(mask * tf.abs(hq - fast_weights.sr_forward(sr_model, base, lq)))
    grads = tape.gradient(loss, base)
    for new, w, g, r in zip(adapted, base, grads, rates):
        np.testing.assert_allclose(new.numpy(), w.numpy() - r * g.numpy(), rtol=1e-5, atol=1e-7)
