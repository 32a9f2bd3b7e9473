"""SSIM (Wang et al. 2004) on the same luma as PSNR, computed with ``tf.image.ssim``.

11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, dynamic range 255, 'valid' filtering,
mean over the map: the usual definition (scikit-image ``structural_similarity`` with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``).
The original does not report SSIM; it is offered because users compare with tables that do.
"""
import tensorflow as tf

from metaf2n_tf.errors import InputError
from metaf2n_tf.metrics.psnr import check_pair, rgb_to_y

WINDOW = 11


def ssim(a, b):
    """SSIM of two arrays with values in 0..255 (at least 11x11): H x W, or H x W x C (the mean over channels)."""
    if min(a.shape[:2]) < WINDOW:
        raise InputError(f"SSIM: got a {a.shape[0]}x{a.shape[1]} image, expected at least {WINDOW}x{WINDOW}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    x = tf.convert_to_tensor(a[None], tf.float32)
    y = tf.convert_to_tensor(b[None], tf.float32)
    return float(tf.image.ssim(x, y, max_val=255.0, filter_size=WINDOW, filter_sigma=1.5, k1=0.01, k2=0.03)[0])


def ssim_y(result, gt, crop_border=0, y_coeffs="original"):
    """SSIM between the lumas of two uint8 RGB images, after cropping ``crop_border`` pixels per edge."""
    result, gt = check_pair(result, gt, crop_border)
    return ssim(rgb_to_y(result, y_coeffs), rgb_to_y(gt, y_coeffs))
