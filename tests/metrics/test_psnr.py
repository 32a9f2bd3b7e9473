"""PSNR-Y vs hand-computed values, and the original's R/B-swapped luma on known pixels."""
import math

import numpy as np
import pytest

from metaf2n_tf.errors import InputError
from metaf2n_tf.metrics.psnr import psnr, psnr_y, rgb_to_y


def solid(rgb, size=(8, 8)):
    return np.broadcast_to(np.array(rgb, np.uint8), (*size, 3)).copy()


def test_luma_of_known_pixels():
    # Original: Y = round(R*24.966/255 + G*128.553/255 + B*65.481/255 + 16): red 40.966 -> 41, blue 81.481 -> 81.
    assert rgb_to_y(solid((255, 0, 0)))[0, 0] == 41
    assert rgb_to_y(solid((0, 0, 255)))[0, 0] == 81
    # BT.601 on RGB data: red 81, blue 41; green 128.553 + 16 -> 145 in both.
    assert rgb_to_y(solid((255, 0, 0)), "bt601")[0, 0] == 81
    assert rgb_to_y(solid((0, 0, 255)), "bt601")[0, 0] == 41
    assert rgb_to_y(solid((0, 255, 0)))[0, 0] == rgb_to_y(solid((0, 255, 0)), "bt601")[0, 0] == 145
    assert rgb_to_y(solid((0, 0, 0)))[0, 0] == 16 and rgb_to_y(solid((255, 255, 255)))[0, 0] == 235


def test_psnr_hand_values():
    # red vs black: Y differs by 41 - 16 = 25 (original) or 81 - 16 = 65 (bt601) everywhere.
    red, black = solid((255, 0, 0)), solid((0, 0, 0))
    assert psnr_y(red, black) == pytest.approx(20 * math.log10(255 / 25), abs=1e-12)
    assert psnr_y(red, black, y_coeffs="bt601") == pytest.approx(20 * math.log10(255 / 65), abs=1e-12)
    # one grey level on one pixel of 64: MSE = 1 / (255^2 * 64).
    a = np.zeros((8, 8), np.uint8)
    b = a.copy()
    b[3, 4] = 1
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 * 64), abs=1e-9)
    assert psnr(a, a) == 100.0


def test_matches_the_original_formula_on_a_photo_like_image():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    # The original: np.dot(img, [24.966, 128.553, 65.481]) / 255 + 16, rounded to uint8, then MSE of /255.
    ya, yb = ((np.dot(x, [24.966, 128.553, 65.481]) / 255.0 + 16.0).round().astype(np.uint8) for x in (a, b))
    want = 20 * math.log10(1 / math.sqrt(np.mean((ya / 255.0 - yb / 255.0) ** 2)))
    assert psnr_y(a, b) == pytest.approx(want, abs=1e-12)


def test_crop_border_ignores_edges():
    a = np.full((20, 20, 3), 100, np.uint8)
    b = a.copy()
    b[:2] = 0
    b[:, -2:] = 255
    assert psnr_y(a, b, crop_border=2) == 100.0
    assert psnr_y(a, b, crop_border=1) < 100.0


def test_errors():
    with pytest.raises(InputError, match=r"got shapes \(8, 8, 3\) and \(8, 9, 3\)"):
        psnr_y(solid((1, 2, 3)), solid((1, 2, 3), (8, 9)))
    with pytest.raises(InputError, match="crop_border 4"):
        psnr_y(solid((1, 2, 3)), solid((1, 2, 3)), crop_border=4)
    with pytest.raises(InputError, match="got 'rgb'"):
        rgb_to_y(solid((1, 2, 3)), "rgb")
