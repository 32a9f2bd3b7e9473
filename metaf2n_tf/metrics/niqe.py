"""NIQE (Mittal et al. 2013, "Making a completely blind image quality analyzer"), MATLAB-equivalent.

Per 96x96 block of the rounded luma, at full and half resolution: MSCN coefficients
(x - mu) / (sigma + 1) with a 7x7 Gaussian window (edge-replicated borders), an asymmetric
generalised Gaussian (AGGD) fit of the coefficients and of their products with the 4 neighbours
(right, down, down-right, down-left), 18 numbers per scale. The multivariate Gaussian of the blocks'
36 features is compared with the pristine model of the parameters file:
NIQE = sqrt((mu_p - mu_d) pinv((S_p + S_d) / 2) (mu_p - mu_d)^T).
The half resolution is MATLAB's ``imresize(x, 0.5)`` (bicubic, antialiased).

The parameters file is BasicSR's ``niqe_pris_params.npz`` (keys ``mu_pris_param``, ``cov_pris_param``,
``gaussian_window``), user supplied.
"""
import math
import os

import numpy as np
from scipy.ndimage import convolve
from scipy.special import gamma

from metaf2n_tf.errors import InputError, WeightsError
from metaf2n_tf.metrics.psnr import BT601_Y

BLOCK = 96
NUM_FEATURES = 36
# Luma of RGB in 0..255 = round(rgb . weights / divisor + offset), in float64.
# "yiq": pyiqa 0.1.6.x ``niqe`` (the metric the original script calls; pyiqa works in float32, so a
# few pixels on exact .5 ties may round the other way); "bt601": BasicSR's ``calculate_niqe``.
LUMA = {
    "yiq": ((0.299, 0.587, 0.114), 1.0, 0.0),
    "bt601": (BT601_Y, 255.0, 16.0),
}
# The AGGD shape grid searched by the reference implementations: 0.2, 0.201, ..., 10.0.
_ALPHAS = np.arange(0.2, 10.001, 0.001)
_RHO = gamma(2.0 / _ALPHAS) ** 2 / (gamma(1.0 / _ALPHAS) * gamma(3.0 / _ALPHAS))
_PARAM_KEYS = ("mu_pris_param", "cov_pris_param", "gaussian_window")
# Neighbour offsets (rows, cols) for the pairwise products, as np.roll shifts inside a block.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def load_niqe_params(path):
    """Reads ``niqe_pris_params.npz`` -> (mu [36], cov [36, 36], gaussian window [k, k])."""
    if not path or not os.path.isfile(path):
        raise WeightsError(
            f"{path or '(no path)'}: NIQE parameters not found; supply BasicSR's "
            "basicsr/metrics/niqe_pris_params.npz with --niqe_params"
        )
    try:
        with np.load(path) as params:
            mu, cov, window = (np.asarray(params[k], np.float64) for k in _PARAM_KEYS)
    except (KeyError, ValueError, OSError) as e:
        raise WeightsError(f"{path}: not a NIQE parameters .npz ({e})") from None
    mu = mu.reshape(-1)
    if mu.shape != (NUM_FEATURES,) or cov.shape != (NUM_FEATURES, NUM_FEATURES) or window.ndim != 2:
        raise WeightsError(
            f"{path}: got mu {mu.shape}, cov {cov.shape}, window {window.shape}, "
            f"expected ({NUM_FEATURES},), ({NUM_FEATURES}, {NUM_FEATURES}) and a 2-D window"
        )
    return mu, cov, window


def luma(image, formula="yiq"):
    """uint8 HxWx3 RGB -> rounded luma as float64 in 0..255 (the input NIQE is defined on)."""
    if formula not in LUMA:
        raise InputError(f"NIQE luma: got '{formula}', expected one of {sorted(LUMA)}")
    weights, divisor, offset = LUMA[formula]
    return np.round(np.asarray(image, np.float64) @ np.asarray(weights) / divisor + offset)


def _cubic(x):
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
    ax = np.abs(x)
    return np.where(
        ax <= 1, 1.5 * ax**3 - 2.5 * ax**2 + 1, np.where(ax <= 2, -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2, 0.0)
    )


def resize_matrix(in_length, scale):
    """The [out, in] matrix of MATLAB ``imresize`` bicubic along one axis (antialiased when shrinking).

    Output pixel j (1-based) samples input position u = j / scale + (1 - 1 / scale) / 2; the kernel is
    widened by 1 / scale when shrinking; indices outside the image mirror (half-sample symmetric).
    """
    out_length = math.ceil(in_length * scale)
    kernel_scale = min(scale, 1.0)
    width = 4.0 / kernel_scale
    u = np.arange(1, out_length + 1) / scale + 0.5 * (1 - 1 / scale)
    taps = np.floor(u - width / 2)[:, None] + np.arange(math.ceil(width) + 2)[None, :]
    weights = kernel_scale * _cubic((u[:, None] - taps) * kernel_scale)
    weights /= weights.sum(axis=1, keepdims=True)
    index = (taps.astype(int) - 1) % (2 * in_length)
    index = np.where(index >= in_length, 2 * in_length - 1 - index, index)
    matrix = np.zeros((out_length, in_length))
    np.add.at(matrix, (np.repeat(np.arange(out_length), index.shape[1]), index.ravel()), weights.ravel())
    return matrix


def imresize(image, scale):
    """MATLAB ``imresize(image, scale)`` (bicubic, antialiasing) of a 2-D float array."""
    rows = resize_matrix(image.shape[0], scale)
    cols = resize_matrix(image.shape[1], scale)
    return rows @ image @ cols.T


def aggd_fit(samples):
    """Moment-matching AGGD fit per row of ``samples`` [n, m] -> (alpha, beta_left, beta_right), each [n].

    A row without negative (or positive) values yields NaN betas and alpha 0.2, as the references do.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt(_masked_mean(samples**2, samples < 0))
        right = np.sqrt(_masked_mean(samples**2, samples > 0))
        gamma_hat = left / right
        r_hat = np.mean(np.abs(samples), axis=1) ** 2 / np.mean(samples**2, axis=1)
        r_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
        alpha = _ALPHAS[np.argmin((_RHO[None, :] - r_norm[:, None]) ** 2, axis=1)]
        ratio = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left * ratio, right * ratio


def _masked_mean(values, mask):
    return np.sum(np.where(mask, values, 0.0), axis=1) / np.sum(mask, axis=1)


def block_features(blocks):
    """The 18 NIQE features of each MSCN block, blocks [n, h, w] -> [n, 18]."""
    flat = blocks.reshape(len(blocks), -1)
    alpha, beta_l, beta_r = aggd_fit(flat)
    feats = [alpha, (beta_l + beta_r) / 2]
    for shift in _SHIFTS:
        products = (blocks * np.roll(blocks, shift, axis=(1, 2))).reshape(len(blocks), -1)
        alpha, beta_l, beta_r = aggd_fit(products)
        mean = (beta_r - beta_l) * gamma(2 / alpha) / gamma(1 / alpha)
        feats += [alpha, mean, beta_l, beta_r]
    return np.stack(feats, axis=1)


def mscn(image, window):
    """Mean-subtracted contrast-normalised coefficients (Gaussian window, edge-replicated borders)."""
    mu = convolve(image, window, mode="nearest")
    sigma = np.sqrt(np.abs(convolve(image * image, window, mode="nearest") - mu * mu))
    return (image - mu) / (sigma + 1)


def _blocks(image, size):
    """Splits [H, W] (multiples of ``size``) into [n, size, size] blocks."""
    h, w = image.shape
    return image.reshape(h // size, size, w // size, size).swapaxes(1, 2).reshape(-1, size, size)


def niqe(y, params, block=BLOCK):
    """NIQE of a 2-D luma image in 0..255 (rounded); lower is better.

    Args:
        y: [H, W] float luma, at least ``block`` x 2 ``block`` pixels (two blocks).
        params: (mu, cov, window) from :func:`load_niqe_params`.
        block: block side at full resolution (96 in the reference).
    """
    mu_p, cov_p, window = params
    h, w = (s // block * block for s in y.shape)
    if h * w < 2 * block * block:
        raise InputError(f"NIQE: got a {y.shape[0]}x{y.shape[1]} image, expected at least 2 blocks of {block}x{block}")
    image = np.asarray(y, np.float64)[:h, :w]
    feats = [block_features(_blocks(mscn(image, window), block))]
    half = imresize(image / 255.0, 0.5) * 255.0
    feats.append(block_features(_blocks(mscn(half, window), block // 2)))
    feats = np.concatenate(feats, axis=1)
    mu_d = np.nanmean(feats, axis=0)
    cov_d = np.cov(feats[~np.isnan(feats).any(axis=1)], rowvar=False)
    diff = mu_p - mu_d
    return float(np.sqrt(diff @ np.linalg.pinv((cov_p + cov_d) / 2) @ diff))
