"""PSNR on the luma (Y of YCbCr, ITU-R BT.601) of uint8 RGB images, as the original reports it.

The original (``calculate_metrics.py``) reads RGB files but applies BasicSR's BGR Y formula, so
its "Y" weights R with 24.966 and B with 65.481 (R and B swapped). ``y_coeffs="original"`` keeps
that, so numbers compare with the paper; ``"bt601"`` is the correct luma for RGB data.
Y = round(rgb . coeffs / 255 + 16) as uint8; PSNR = 20 log10(1 / sqrt(MSE)) with MSE on Y / 255,
100 when MSE < 1e-10.
"""
import math

import numpy as np

from metaf2n_tf.errors import InputError

# ITU-R BT.601 luma of (R, G, B) in 0..255 units per unit input: Y = rgb . BT601_Y / 255 + 16.
BT601_Y = (65.481, 128.553, 24.966)
Y_COEFFS = {
    "original": BT601_Y[::-1],  # BasicSR's BGR formula applied to RGB: R and B weights swapped
    "bt601": BT601_Y,
}
PSNR_IDENTICAL = 100.0


def rgb_to_y(image, y_coeffs="original"):
    """uint8 HxWx3 RGB -> uint8 HxW luma, rounded (16..235)."""
    if y_coeffs not in Y_COEFFS:
        raise InputError(f"Y coefficients: got '{y_coeffs}', expected one of {sorted(Y_COEFFS)}")
    y = np.asarray(image, np.float64) @ np.asarray(Y_COEFFS[y_coeffs]) / 255.0 + 16.0
    return np.round(y).astype(np.uint8)


def psnr(a, b):
    """PSNR in dB of two arrays with values in 0..255 (any shape); 100 for (nearly) identical inputs."""
    mse = np.mean((np.asarray(a, np.float64) / 255.0 - np.asarray(b, np.float64) / 255.0) ** 2)
    if mse < 1e-10:
        return PSNR_IDENTICAL
    return 20.0 * math.log10(1.0 / math.sqrt(mse))


def check_pair(result, gt, crop_border=0, what="image pair"):
    """Checks two uint8 RGB images have the same shape and crops ``crop_border`` pixels from each edge."""
    if result.shape != gt.shape:
        raise InputError(f"{what}: got shapes {result.shape} and {gt.shape}, expected equal shapes")
    h, w = result.shape[:2]
    if crop_border < 0 or 2 * crop_border >= min(h, w):
        raise InputError(f"{what}: crop_border {crop_border} leaves nothing of a {h}x{w} image")
    inner = (slice(crop_border, h - crop_border), slice(crop_border, w - crop_border))
    return result[inner], gt[inner]


def psnr_y(result, gt, crop_border=0, y_coeffs="original"):
    """PSNR between the lumas of two uint8 RGB images, after cropping ``crop_border`` pixels per edge."""
    result, gt = check_pair(result, gt, crop_border)
    return psnr(rgb_to_y(result, y_coeffs), rgb_to_y(gt, y_coeffs))
