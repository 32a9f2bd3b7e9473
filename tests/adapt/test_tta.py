"""Test-time adaptation on fast weights vs the independent TF1 graph (GradientDescent / Adam optimizers)."""
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.adapt.tta import Adapter
from metaf2n_tf.weights.assign import split_scopes
from metaf2n_tf.weights.sources import Weights, build_models
from tests.reference_tf1 import ReferenceGraph, random_tensors

RNG = np.random.default_rng(7)
LQ = RNG.random((3, 8, 8, 3)).astype(np.float32)
HQ = RNG.random((3, 32, 32, 3)).astype(np.float32)
IMAGE = RNG.random((10, 12, 3)).astype(np.float32)


def _models(tensors):
    sr, mask = split_scopes(tensors)
    return build_models(Weights(sr, mask, "test"))


@pytest.mark.parametrize("optimizer, lr, steps", [("sgd", 0.5, 1), ("sgd", 0.5, 3), ("adam", 1e-3, 3)])
def test_steps_match_tf1_optimizer(optimizer, lr, steps):
    tensors = random_tensors(num_block=1, seed=11)
    graph = ReferenceGraph(tensors, lr=lr, optimizer=optimizer)
    adapter = Adapter(*_models(tensors), optimizer=optimizer, lr=lr, warn=False)
    base = adapter.initial_weights()
    before = graph.sr(IMAGE)
    np.testing.assert_allclose(adapter.forward(base, IMAGE[None])[0], before, atol=1e-6)
    ref_losses = [graph.sgd_step(LQ, HQ) for _ in range(steps)]
    expected = graph.sr(IMAGE)
    weights, losses = adapter.adapt(base, LQ, HQ, steps)
    np.testing.assert_allclose(losses[:-1], ref_losses, rtol=1e-5)
    np.testing.assert_allclose(losses[-1], graph.face_loss(LQ, HQ), rtol=1e-5)
    got = adapter.forward(weights, IMAGE[None])[0].numpy()
    assert np.abs(expected - before).max() > 1e-3  # the step changes the output, so the check has teeth
    np.testing.assert_allclose(got, expected, atol=2e-5)
    # The loaded weights are untouched: the next image starts from them.
    np.testing.assert_allclose(adapter.forward(adapter.initial_weights(), IMAGE[None])[0], before, atol=1e-6)
    np.testing.assert_allclose(adapter.forward(base, IMAGE[None])[0], before, atol=1e-6)


def test_mask_weights_match_tf1_legacy_bicubic():
    tensors = random_tensors(num_block=1, seed=5)
    graph = ReferenceGraph(tensors)
    adapter = Adapter(*_models(tensors), warn=False)
    w = adapter._mask(LQ, HQ).numpy()
    np.testing.assert_allclose(w, graph.mask_values(LQ, HQ), atol=1e-5)
    assert w.shape == (3, 32, 32, 1) and w.min() >= 0.0


def test_without_masknet_w_is_one_and_said_once(capsys):
    tensors = {k: v for k, v in random_tensors(num_block=1, seed=5).items() if k.startswith("MODEL/")}
    sr_model, mask_model = _models(tensors)
    assert mask_model is None
    adapter = Adapter(sr_model, None, lr=0.1)
    weights, losses = adapter.adapt(adapter.initial_weights(), LQ, HQ, 1)
    out = adapter.forward(adapter.initial_weights(), LQ)
    assert np.isclose(losses[0], np.mean(np.abs(HQ - out.numpy())), rtol=1e-5)
    err = capsys.readouterr().err
    assert err.count("W = 1") == 1
