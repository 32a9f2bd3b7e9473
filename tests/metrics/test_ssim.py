"""SSIM (tf.image) vs scikit-image's structural_similarity with the same Gaussian-window definition."""
import numpy as np
import pytest
from skimage import data
from skimage.metrics import structural_similarity

from metaf2n_tf.errors import InputError
from metaf2n_tf.metrics.psnr import rgb_to_y
from metaf2n_tf.metrics.ssim import ssim, ssim_y


def skimage_ssim(a, b):
    return structural_similarity(a.astype(np.float64), b.astype(np.float64), data_range=255, gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False)


def test_matches_scikit_image():
    rng = np.random.default_rng(3)
    a = data.astronaut()[100:180, 150:250]
    b = np.clip(a + rng.normal(0, 15, a.shape), 0, 255).astype(np.uint8)
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    assert ssim(ya, yb) == pytest.approx(skimage_ssim(ya, yb), abs=2e-5)
    assert ssim_y(a, b, crop_border=3) == pytest.approx(skimage_ssim(ya[3:-3, 3:-3], yb[3:-3, 3:-3]), abs=2e-5)
    want = skimage_ssim(rgb_to_y(a, "bt601"), rgb_to_y(b, "bt601"))
    assert ssim_y(a, b, y_coeffs="bt601") == pytest.approx(want, abs=2e-5)


def test_rgb_is_the_mean_of_the_channels():  # the demo's whole-photo SSIM
    rng = np.random.default_rng(4)
    a = data.astronaut()[200:260, 100:180]
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    want = np.mean([skimage_ssim(a[..., c], b[..., c]) for c in range(3)])
    assert ssim(a, b) == pytest.approx(want, abs=2e-5)


def test_identical_is_one_and_small_images_are_refused():
    a = data.camera()[:32, :32]
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(InputError, match="got a 10x32 image, expected at least 11x11"):
        ssim(a[:10], a[:10])
