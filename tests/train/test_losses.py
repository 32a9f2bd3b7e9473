"""Training losses vs NumPy formulas written from the original's outer and discriminator losses (docs/upstream.md)."""
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import metaf2n_tf  # noqa: F401
from metaf2n_tf.train.losses import (LossWeights, bce, discriminator_loss, hf_energy, mask_regularizer, outer_loss,
                                     outer_terms)

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
    terms = {k: float(v) for k, v in outer_terms(SR32, GT32, LOGITS, MASK, lpips, NATURAL32).items()}
    expected = {"l1": np.mean(np.abs(GT32 - SR32)), "lpips": 0.5, "gan": np_bce(LOGITS, 1.0),
                "mask": np.mean((MASK.astype(np.float64) - 1) ** 2) / 2,
                "hf": np.mean(np.abs(np_hf_energy(SR32) - np_hf_energy(NATURAL32)))}
    for k, v in expected.items():
        assert np.isclose(terms[k], v, rtol=1e-5), k
    got = float(outer_loss(terms, LossWeights()))  # the original's weights: hf 0
    assert np.isclose(got, expected["l1"] + 0.5 * 0.5 + 0.1 * expected["gan"] + 0.002 * expected["mask"], rtol=1e-5)
    only_mask = float(outer_loss(terms, LossWeights(l1=0, lpips=0, gan=0, mask=3.0)))
    assert np.isclose(only_mask, 3.0 * expected["mask"], rtol=1e-5)
    only_hf = float(outer_loss(terms, LossWeights(l1=0, lpips=0, gan=0, mask=0, hf=2.0)))
    assert np.isclose(only_hf, 2.0 * expected["hf"], rtol=1e-5)


def test_lpips_and_hf_switched_off_are_zero():
    terms = outer_terms(SR, GT, LOGITS, MASK, None, None)
    assert float(terms["lpips"]) == 0.0 and float(terms["hf"]) == 0.0


# Patches big enough for the hf term's VALID region (12 pixels lost on each side).
SR32 = RNG.random((2, 32, 32, 3)).astype(np.float32)
GT32 = RNG.random((2, 32, 32, 3)).astype(np.float32)
NATURAL32 = RNG.random((2, 32, 32, 3)).astype(np.float32)


def np_hf_energy(images, sigma=1.0, window_sigma=3.0):
    """sqrt(G_3 * (x - G_1 * x)^2 + 1e-6) with SciPy's Gaussian (3-sigma kernels), away from the borders."""
    out = []
    for image in images.astype(np.float64):
        high = image - np.stack([gaussian_filter(image[..., c], sigma, truncate=3.0) for c in range(3)], -1)
        energy = np.stack([gaussian_filter(high[..., c] ** 2, window_sigma, truncate=3.0) for c in range(3)], -1)
        out.append(np.sqrt(energy + 1e-6)[12:-12, 12:-12])
    return np.stack(out)


def test_hf_energy_matches_scipy():
    got = hf_energy(SR32).numpy()
    assert got.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(got, np_hf_energy(SR32), rtol=1e-4, atol=1e-6)


def test_hf_term_penalises_smoothing_and_not_shifted_detail():
    natural = NATURAL32
    blurred = np.stack([gaussian_filter(x, (1.0, 1.0, 0)) for x in natural]).astype(np.float32)
    mask = np.ones((1, 4, 4, 1), np.float32)
    hf = lambda sr: float(outer_terms(sr, natural, LOGITS, mask, None, natural)["hf"])  # noqa: E731
    assert hf(natural) == 0.0
    # a flat image has no detail at all: the term is the reference's mean amplitude
    flat = np.full_like(natural, 0.5)
    assert np.isclose(hf(flat), np.mean(np_hf_energy(natural) - 1e-3), rtol=1e-3)
    assert hf(blurred) > 0.5 * hf(flat)
    # the same detail one pixel to the side costs the L1 term much more than the hf term
    shifted = np.roll(natural, 1, axis=2)
    l1 = float(np.mean(np.abs(shifted - natural)))
    assert hf(shifted) < 0.2 * l1


def test_mask_regularizer_zero_at_one():
    assert float(mask_regularizer(np.ones((1, 4, 4, 1), np.float32))) == 0.0


def test_discriminator_loss():
    got = float(discriminator_loss(REAL_LOGITS, LOGITS))
    assert np.isclose(got, np_bce(REAL_LOGITS, 1.0) + np_bce(LOGITS, 0.0), rtol=1e-5)
