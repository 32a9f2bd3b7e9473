"""Blur kernels (BasicSR's mixed Gaussian / plateau kernels and the circular sinc) and filtering with them.

Kernels are built in float64 on a ``pad_to`` x ``pad_to`` grid, zero outside their own odd support, normalised
to sum 1; ``filter2d`` is BasicSR's ``filter2D`` (reflect padding, cross-correlation) through the FFT.
"""
import math

import tensorflow as tf

_IMAGES = tf.TensorSpec([None, None, None, None], tf.float32)  # a graph function's signature: traced once


def _grid(pad_to):
    """Column (x) and row (y) offsets from the centre of a ``pad_to`` square, float64 [K, K]."""
    ax = tf.range(-(pad_to // 2), pad_to // 2 + 1, dtype=tf.float64)
    return tf.meshgrid(ax, ax)


def _support(size, pad_to):
    """1 inside the centred ``size`` square, 0 outside (float64 [K, K])."""
    x, y = _grid(pad_to)
    half = tf.cast(size // 2, tf.float64)
    return tf.cast(tf.logical_and(tf.abs(x) <= half, tf.abs(y) <= half), tf.float64)


def mixed_kernel(p, pad_to):
    """Generalized Gaussian exp(-Q^beta / 2) or plateau 1 / (Q^beta + 1), Q = g^T Sigma^-1 g.

    Sigma = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T with g = (column, row) offsets, as BasicSR's
    mesh grid; zero outside ``p.size``, normalised to sum 1. [pad_to, pad_to] float64.
    """
    x, y = _grid(pad_to)
    cos, sin = tf.cos(tf.cast(p.theta, tf.float64)), tf.sin(tf.cast(p.theta, tf.float64))
    u = cos * x + sin * y
    v = -sin * x + cos * y
    q = (u / tf.cast(p.sigma_x, tf.float64)) ** 2 + (v / tf.cast(p.sigma_y, tf.float64)) ** 2
    qb = tf.pow(q, tf.cast(p.beta, tf.float64))
    kernel = tf.where(p.plateau, 1.0 / (qb + 1.0), tf.exp(-0.5 * qb)) * _support(p.size, pad_to)
    return kernel / tf.reduce_sum(kernel)


def sinc_kernel(omega, size, pad_to):
    """Circular low-pass omega J1(omega r) / (2 pi r), centre omega^2 / (4 pi); ``size`` support, sum 1."""
    x, y = _grid(pad_to)
    omega = tf.cast(omega, tf.float64)
    r = tf.sqrt(x * x + y * y)
    safe_r = tf.where(r > 0, r, 1.0)
    kernel = tf.where(r > 0, omega * tf.math.special.bessel_j1(omega * safe_r) / (2 * math.pi * safe_r),
                      omega ** 2 / (4 * math.pi))
    kernel *= _support(size, pad_to)
    return kernel / tf.reduce_sum(kernel)


@tf.function(autograph=False)
def blur_kernel(p, pad_to):
    """The kernel ``p`` describes, [pad_to, pad_to] float32 (a graph function, traced once per ``pad_to``)."""
    kernel = tf.where(p.sinc, sinc_kernel(p.omega, p.size, pad_to), mixed_kernel(p, pad_to))
    return tf.cast(kernel, tf.float32)


def pulse(pad_to):
    """Centred unit impulse: filtering with it changes nothing."""
    return tf.reshape(tf.one_hot(pad_to * pad_to // 2, pad_to * pad_to, dtype=tf.float32), [pad_to, pad_to])


def _reflect_indices(n, pad):
    """Indices of ``range(-pad, n + pad)`` reflected into [0, n) without repeating the edge (numpy 'reflect')."""
    period = tf.maximum(2 * (n - 1), 1)
    m = tf.math.floormod(tf.range(-pad, n + pad), period)
    return tf.where(m < n, m, period - m)


def reflect_pad(images, pad):
    """Pads H and W by ``pad`` with 'reflect' (edge not repeated), any ``pad``: reflection repeats."""
    shape = tf.shape(images)
    images = tf.gather(images, _reflect_indices(shape[1], pad), axis=1)
    return tf.gather(images, _reflect_indices(shape[2], pad), axis=2)


def filter2d(images, kernel):
    """Cross-correlation of every channel with ``kernel`` [k, k] (k odd) after reflect padding (BasicSR filter2D).

    Computed through the 2-D FFT of the padded image (exact linear correlation on the valid part).
    """
    return tf.ensure_shape(_filter2d_fft(images, kernel), images.shape)


@tf.function(input_signature=[_IMAGES, tf.TensorSpec([None, None], tf.float32)], autograph=False)
def _filter2d_fft(images, kernel):
    """``filter2d`` as a graph function (traced once)."""
    k = tf.shape(kernel)[0]
    padded = tf.transpose(reflect_pad(images, k // 2), [0, 3, 1, 2])  # [N, C, Hp, Wp]
    hp, wp = tf.shape(padded)[2], tf.shape(padded)[3]
    flipped = tf.pad(kernel[::-1, ::-1], [[0, hp - k], [0, wp - k]])
    product = tf.signal.rfft2d(padded) * tf.signal.rfft2d(flipped)
    out = tf.signal.irfft2d(product, fft_length=tf.stack([hp, wp]))[:, :, k - 1:, k - 1:]
    return tf.transpose(out, [0, 2, 3, 1])
