"""Training losses vs NumPy formulas written from the original's outer and discriminator losses (docs/upstream.md)."""
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.train.losses import LossWeights, bce, discriminator_loss, mask_regularizer, outer_loss, outer_terms

RNG = np.random.default_rng(0)
SR = RNG.random((2, 8, 8, 3)).astype(np.float32)
GT = RNG.random((2, 8, 8, 3)).astype(np.float32)
LOGITS = RNG.normal(0, 2, (2, 8, 8, 1)).astype(np.float32)
REAL_LOGITS = RNG.normal(0, 2, (2, 8, 8, 1)).astype(np.float32)
MASK = RNG.random((3, 16, 16, 1)).astype(np.float32) * 2


def np_bce(z, y):
    """-y log(sigmoid z) - (1 - y) log(1 - sigmoid z), mean."""
    p = 1 / (1 + np.exp(-z.astype(np.float64)))
    return float(np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p)))


@pytest.mark.parametrize("target", [0.0, 1.0])
def test_bce_matches_formula(target):
    assert np.isclose(float(bce(LOGITS, target)), np_bce(LOGITS, target), rtol=1e-5)


def test_bce_is_stable_for_large_logits():
    assert np.isclose(float(bce(np.array([80.0, -80.0], np.float32), 1.0)), 40.0, rtol=1e-6)


def test_outer_terms_and_weighted_sum():
    lpips = lambda a, b: np.array([0.25, 0.75], np.float32)  # noqa: E731  a stand-in distance, mean 0.5
    terms = {k: float(v) for k, v in outer_terms(SR, GT, LOGITS, MASK, lpips).items()}
    expected = {"l1": np.mean(np.abs(GT - SR)), "lpips": 0.5, "gan": np_bce(LOGITS, 1.0),
                "mask": np.mean((MASK.astype(np.float64) - 1) ** 2) / 2}
    for k, v in expected.items():
        assert np.isclose(terms[k], v, rtol=1e-5), k
    got = float(outer_loss(terms, LossWeights()))
    assert np.isclose(got, expected["l1"] + 0.5 * 0.5 + 0.1 * expected["gan"] + 0.002 * expected["mask"], rtol=1e-5)
    only_mask = float(outer_loss(terms, LossWeights(l1=0, lpips=0, gan=0, mask=3.0)))
    assert np.isclose(only_mask, 3.0 * expected["mask"], rtol=1e-5)


def test_lpips_switched_off_is_zero():
    assert float(outer_terms(SR, GT, LOGITS, MASK, None)["lpips"]) == 0.0


def test_mask_regularizer_zero_at_one():
    assert float(mask_regularizer(np.ones((1, 4, 4, 1), np.float32))) == 0.0


def test_discriminator_loss():
    got = float(discriminator_loss(REAL_LOGITS, LOGITS))
    assert np.isclose(got, np_bce(REAL_LOGITS, 1.0) + np_bce(LOGITS, 0.0), rtol=1e-5)
