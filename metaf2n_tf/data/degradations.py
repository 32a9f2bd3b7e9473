"""Real-ESRGAN second-order degradation (MetaF2N's DataGenerator) in TensorFlow ops.

Two halves, kept apart as in BasicSR:
* pure ops ``(images, params) -> images`` on float32 batches [N, H, W, C] in [0, 1]: ``filter2d``,
  ``resize``, ``add_gaussian_noise``, ``add_poisson_noise``, ``jpeg``, ``usm_sharp`` and ``degrade``,
  the whole chain;
* sampling, ``sample_*(seed, ...)``, with ``tf.random.stateless_*`` only, so a seed fixes everything
  and the ops run inside ``tf.data`` maps with parallel calls.

A task draws ``TaskParams`` once (kernels, resizes, noise kind, JPEG qualities, final order) and
applies them to its faces and its natural patches; noise strength and the grey-noise flag are drawn
per image (``NoiseParams``), as the original does (SPEC section 15, item 12).

Every value lives in ``DegradationConfig``; ``stage(cfg, 1 or 2)`` reads one round's values.
Resizing follows PyTorch ``F.interpolate`` (align_corners=False, no antialias, bicubic -0.75) exactly;
JPEG goes through libjpeg (``tf.io``) instead of DiffJPEG, see ``jpeg``.
"""
import dataclasses
import math
from typing import NamedTuple

import tensorflow as tf

from metaf2n_tf.errors import ConfigError

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
RESIZE_TYPES = ("up", "down", "keep")
RESIZE_MODES = ("area", "bilinear", "bicubic")
GREY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision rgb_to_grayscale, used for grey Poisson noise
_CUBIC_A = -0.75  # PyTorch's bicubic coefficient
_BLOCK_ROWS = 16  # output rows per block of a banded resize product
# signatures of the graph functions below: each is traced once, however often a task calls it
_INT = tf.TensorSpec([], tf.int32)
_FLOAT = tf.TensorSpec([], tf.float32)
_IMAGES = tf.TensorSpec([None, None, None, None], tf.float32)


@dataclasses.dataclass(frozen=True)
class DegradationConfig:
    """Every value of the degradation, crops, flips and texture filter (defaults: MetaF2N / Real-ESRGAN x4plus).

    Names follow the Real-ESRGAN options file; a trailing ``2`` marks the second round.
    ``kernel_prob`` is over ``KERNEL_TYPES``, ``resize_prob`` over ``RESIZE_TYPES``; ranges are (low, high).
    """

    kernel_range: tuple = (7, 9, 11, 13, 15, 17, 19, 21)  # odd kernel sizes, uniform choice
    blur_kernel_size: int = 21  # every kernel is zero-padded to this size
    rotation_range: tuple = (-math.pi, math.pi)  # anisotropic kernels
    sinc_cutoff_small: tuple = (math.pi / 3, math.pi)  # omega_c of a blur sinc below sinc_large_size
    sinc_cutoff_large: tuple = (math.pi / 5, math.pi)  # omega_c of a blur sinc from sinc_large_size on
    sinc_large_size: int = 13
    # first degradation
    kernel_prob: tuple = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob: float = 0.1
    blur_sigma: tuple = (0.2, 3.0)
    betag_range: tuple = (0.5, 4.0)
    betap_range: tuple = (1.0, 2.0)
    resize_prob: tuple = (0.2, 0.7, 0.1)
    resize_range: tuple = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple = (1.0, 30.0)  # Gaussian sigma on the 0-255 scale
    poisson_scale_range: tuple = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple = (30.0, 95.0)
    # second degradation
    second_blur_prob: float = 0.8
    kernel_prob2: tuple = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob2: float = 0.1
    blur_sigma2: tuple = (0.2, 1.5)
    betag_range2: tuple = (0.5, 4.0)
    betap_range2: tuple = (1.0, 2.0)
    resize_prob2: tuple = (0.3, 0.4, 0.3)
    resize_range2: tuple = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple = (1.0, 25.0)
    poisson_scale_range2: tuple = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple = (30.0, 95.0)
    # final sinc filter, and its order with the last JPEG
    final_sinc_prob: float = 0.8
    final_sinc_cutoff: tuple = (math.pi / 3, math.pi)
    sinc_first_prob: float = 0.5  # resize + sinc before the last JPEG, else after it
    # USM sharpening of the natural ground truth (BasicSR USMSharp)
    usm_radius: int = 50  # made odd (51): Gaussian kernel size, sigma from OpenCV's rule
    usm_weight: float = 0.5
    usm_threshold: float = 10.0  # on the 0-255 scale
    # crops and flips
    texture_threshold: float = -6.0  # a face crop is kept if log(mean gradient^2 + 1e-10) >= this
    texture_tries: int = 6  # crops tried before the last one is kept anyway
    flip_prob: float = 0.5

    def __post_init__(self):
        _check_sizes(self)
        for n in (1, 2):
            _check_stage(stage(self, n), "" if n == 1 else "2")
        for name in ("rotation_range", "sinc_cutoff_small", "sinc_cutoff_large", "final_sinc_cutoff"):
            _check_range(name, getattr(self, name))
        for name in ("second_blur_prob", "final_sinc_prob", "sinc_first_prob", "flip_prob"):
            _check_probability(name, getattr(self, name))
        if self.texture_tries < 1:
            raise ConfigError(f"DegradationConfig.texture_tries: got {self.texture_tries}, expected >= 1")


class Stage(NamedTuple):
    """The values of one degradation round (``stage(cfg, 1)`` or ``stage(cfg, 2)``)."""

    kernel_prob: tuple
    sinc_prob: float
    blur_sigma: tuple
    betag_range: tuple
    betap_range: tuple
    resize_prob: tuple
    resize_range: tuple
    gaussian_noise_prob: float
    noise_range: tuple
    poisson_scale_range: tuple
    gray_noise_prob: float
    jpeg_range: tuple


def stage(cfg, n):
    """Round ``n`` (1 or 2) of ``cfg``: the fields without (1) or with (2) the ``2`` suffix."""
    suffix = "" if n == 1 else "2"
    return Stage(*(getattr(cfg, name + suffix) for name in Stage._fields))


def _check_range(name, pair, low=-math.inf, high=math.inf, around=None):
    """Raises ConfigError unless ``pair`` is (lo, hi) with low <= lo <= hi <= high (and lo <= around <= hi)."""
    ok = len(pair) == 2 and low <= pair[0] <= pair[1] <= high
    if ok and around is not None:
        ok = pair[0] <= around <= pair[1]
    if not ok:
        bounds = f"within [{low}, {high}]" + (f" around {around}" if around is not None else "")
        raise ConfigError(f"DegradationConfig.{name}: got {tuple(pair)}, expected (low, high) {bounds}")


def _check_probability(name, p):
    """Raises ConfigError unless 0 <= p <= 1."""
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"DegradationConfig.{name}: got {p}, expected a probability in [0, 1]")


def _check_distribution(name, probs, labels):
    """Raises ConfigError unless ``probs`` has one non-negative entry per label and sums to 1."""
    if len(probs) != len(labels) or min(probs) < 0 or abs(sum(probs) - 1.0) > 1e-6:
        raise ConfigError(
            f"DegradationConfig.{name}: got {tuple(probs)}, expected {len(labels)} probabilities "
            f"summing to 1 for {labels}")


def _check_sizes(cfg):
    """Raises ConfigError unless kernel sizes are odd and fit blur_kernel_size, and usm_radius >= 1."""
    size = cfg.blur_kernel_size
    sizes = tuple(cfg.kernel_range)
    if size < 1 or size % 2 == 0 or not sizes or any(k < 1 or k % 2 == 0 or k > size for k in sizes):
        raise ConfigError(
            f"DegradationConfig.kernel_range/blur_kernel_size: got {sizes}/{size}, "
            f"expected odd sizes no larger than an odd blur_kernel_size")
    if cfg.usm_radius < 1:
        raise ConfigError(f"DegradationConfig.usm_radius: got {cfg.usm_radius}, expected >= 1")


def _check_stage(values, suffix):
    """Checks one round's values (``suffix`` '' or '2' names the fields in errors)."""
    _check_distribution("kernel_prob" + suffix, values.kernel_prob, KERNEL_TYPES)
    _check_distribution("resize_prob" + suffix, values.resize_prob, RESIZE_TYPES)
    for name in ("sinc_prob", "gaussian_noise_prob", "gray_noise_prob"):
        _check_probability(name + suffix, getattr(values, name))
    _check_range("blur_sigma" + suffix, values.blur_sigma, low=1e-6)
    _check_range("betag_range" + suffix, values.betag_range, low=1e-6, around=1.0)
    _check_range("betap_range" + suffix, values.betap_range, low=1e-6, around=1.0)
    _check_range("resize_range" + suffix, values.resize_range, low=1e-6, around=1.0)
    _check_range("noise_range" + suffix, values.noise_range, low=0.0)
    _check_range("poisson_scale_range" + suffix, values.poisson_scale_range, low=0.0)
    _check_range("jpeg_range" + suffix, values.jpeg_range, low=1.0, high=100.0)


# ----------------------------------------------------------------------------------------------
# Parameters drawn per task and per image
# ----------------------------------------------------------------------------------------------


class KernelParams(NamedTuple):
    """One blur kernel: a mixed (generalized Gaussian / plateau) kernel or a sinc, ``size`` x ``size``."""

    size: tf.Tensor  # int32, odd: the support; the kernel is zero outside it
    sinc: tf.Tensor  # bool: circular low-pass with cut-off ``omega`` instead of the mixed kernel
    omega: tf.Tensor
    sigma_x: tf.Tensor
    sigma_y: tf.Tensor
    theta: tf.Tensor  # rotation in radians
    beta: tf.Tensor  # shape: 1 is a plain Gaussian
    plateau: tf.Tensor  # bool: 1 / (1 + Q^beta) instead of exp(-Q^beta / 2)


class TaskParams(NamedTuple):
    """Everything one task shares between its faces and its natural patches."""

    kernel1: tf.Tensor  # [K, K] float32, K = blur_kernel_size
    kernel2: tf.Tensor
    sinc_kernel: tf.Tensor  # final filter; a centred pulse (identity) when not drawn
    blur2: tf.Tensor  # bool: second blur applied
    scale1: tf.Tensor  # first resize, relative
    mode1: tf.Tensor  # int32 index into RESIZE_MODES
    scale2: tf.Tensor  # second resize, relative to the LQ size
    mode2: tf.Tensor
    mode3: tf.Tensor  # final resize to the LQ size
    gaussian1: tf.Tensor  # bool: Gaussian noise in round 1, else Poisson
    gaussian2: tf.Tensor
    quality1: tf.Tensor  # JPEG quality, float as drawn
    quality2: tf.Tensor
    sinc_first: tf.Tensor  # bool: final resize + sinc before the last JPEG


class NoiseParams(NamedTuple):
    """Per-image noise of one round for a batch of N images."""

    sigma: tf.Tensor  # [N] Gaussian sigma, 0-255 scale
    scale: tf.Tensor  # [N] Poisson scale
    gray: tf.Tensor  # [N] bool: one noise map shared by the channels
    seed: tf.Tensor  # [2] int32 seed of the noise maps


def split_seed(seed, n):
    """``n`` independent stateless seeds [n, 2] from one seed [2]."""
    return tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), n)


def uniform(seed, low, high, shape=()):
    """U(low, high) float32 (``low == high`` gives that value)."""
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high, dtype=tf.float32)


def coin(seed, p, shape=()):
    """True with probability ``p``."""
    return tf.random.stateless_uniform(shape, seed) < p


def choice(seed, probs, shape=()):
    """Index drawn with probabilities ``probs`` (int32)."""
    cumulative = tf.constant([sum(probs[: i + 1]) for i in range(len(probs) - 1)], tf.float32)
    u = tf.random.stateless_uniform(tuple(shape) + (1,), seed)
    return tf.reduce_sum(tf.cast(u >= cumulative, tf.int32), axis=-1)


def uniform_index(seed, n, shape=()):
    """Index uniform in [0, n) (int32)."""
    return tf.random.stateless_uniform(shape, seed, minval=0, maxval=n, dtype=tf.int32)


def _beta(seed, beta_range):
    """BasicSR's shape rule: with prob 0.5 U(low, 1), else U(1, high)."""
    s = split_seed(seed, 3)
    return tf.where(coin(s[0], 0.5), uniform(s[1], beta_range[0], 1.0), uniform(s[2], 1.0, beta_range[1]))


def sample_kernel(seed, cfg, n):
    """Blur kernel of round ``n``: size, then sinc (prob ``sinc_prob``) or a mixed kernel type."""
    values = stage(cfg, n)
    s = split_seed(seed, 9)
    size = tf.gather(tf.constant(cfg.kernel_range, tf.int32), uniform_index(s[0], len(cfg.kernel_range)))
    small = size < cfg.sinc_large_size
    omega = tf.where(small, uniform(s[1], *cfg.sinc_cutoff_small), uniform(s[2], *cfg.sinc_cutoff_large))
    kind = choice(s[3], values.kernel_prob)  # index into KERNEL_TYPES
    aniso = tf.equal(kind % 2, 1)
    generalized = tf.logical_or(tf.equal(kind, 2), tf.equal(kind, 3))
    plateau = kind >= 4
    sigma_x = uniform(s[4], *values.blur_sigma)
    beta = tf.where(plateau, _beta(s[5], values.betap_range), _beta(s[5], values.betag_range))
    return KernelParams(
        size=size,
        sinc=coin(s[6], values.sinc_prob),
        omega=omega,
        sigma_x=sigma_x,
        sigma_y=tf.where(aniso, uniform(s[7], *values.blur_sigma), sigma_x),
        theta=tf.where(aniso, uniform(s[8], *cfg.rotation_range), 0.0),
        beta=tf.where(tf.logical_or(generalized, plateau), beta, 1.0),
        plateau=plateau,
    )


def sample_resize(seed, probs, scale_range):
    """(scale, mode): up U(1, high), down U(low, 1) or keep 1 with ``probs``; mode uniform."""
    s = split_seed(seed, 4)
    kind = choice(s[0], probs)
    scale = tf.gather(tf.stack([uniform(s[1], 1.0, scale_range[1]), uniform(s[2], scale_range[0], 1.0), 1.0]), kind)
    return scale, uniform_index(s[3], len(RESIZE_MODES))


def sample_task(seed, cfg):
    """Draws the parameters one task shares (SPEC section 6.3)."""
    s = split_seed(seed, 16)
    size = cfg.blur_kernel_size
    final = KernelParams(
        size=tf.gather(tf.constant(cfg.kernel_range, tf.int32), uniform_index(s[0], len(cfg.kernel_range))),
        sinc=tf.constant(True), omega=uniform(s[1], *cfg.final_sinc_cutoff),
        sigma_x=tf.constant(1.0), sigma_y=tf.constant(1.0), theta=tf.constant(0.0), beta=tf.constant(1.0),
        plateau=tf.constant(False))
    scale1, mode1 = sample_resize(s[4], cfg.resize_prob, cfg.resize_range)
    scale2, mode2 = sample_resize(s[5], cfg.resize_prob2, cfg.resize_range2)
    return TaskParams(
        kernel1=blur_kernel(sample_kernel(s[2], cfg, 1), size),
        kernel2=blur_kernel(sample_kernel(s[3], cfg, 2), size),
        sinc_kernel=tf.where(coin(s[6], cfg.final_sinc_prob), blur_kernel(final, size), pulse(size)),
        blur2=coin(s[7], cfg.second_blur_prob),
        scale1=scale1, mode1=mode1, scale2=scale2, mode2=mode2,
        mode3=uniform_index(s[8], len(RESIZE_MODES)),
        gaussian1=coin(s[9], cfg.gaussian_noise_prob),
        gaussian2=coin(s[10], cfg.gaussian_noise_prob2),
        quality1=uniform(s[11], *cfg.jpeg_range),
        quality2=uniform(s[12], *cfg.jpeg_range2),
        sinc_first=coin(s[13], cfg.sinc_first_prob),
    )


def sample_noise(seed, count, cfg, n):
    """Per-image noise of round ``n`` for ``count`` images."""
    values = stage(cfg, n)
    s = split_seed(seed, 4)
    return NoiseParams(
        sigma=uniform(s[0], *values.noise_range, shape=[count]),
        scale=uniform(s[1], *values.poisson_scale_range, shape=[count]),
        gray=coin(s[2], values.gray_noise_prob, shape=[count]),
        seed=tf.cast(s[3], tf.int32),
    )


# ----------------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# Pure ops
# ----------------------------------------------------------------------------------------------


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


def _area_matrix(n_in, n_out):
    """Adaptive average pooling (PyTorch 'area'): output i averages [floor(i n/m), ceil((i+1) n/m))."""
    i = tf.range(n_out)
    start = (i * n_in) // n_out
    end = ((i + 1) * n_in + n_out - 1) // n_out
    j = tf.range(n_in)
    inside = tf.logical_and(j[None, :] >= start[:, None], j[None, :] < end[:, None])
    return tf.cast(inside, tf.float32) / tf.cast(end - start, tf.float32)[:, None]


def _taps_matrix(indices, weights, n_in):
    """Sums one-hot rows: [n_out, taps] indices and weights -> [n_out, n_in]."""
    return tf.reduce_sum(tf.one_hot(indices, n_in, dtype=tf.float32) * weights[..., None], axis=1)


def _source(n_out, inv_scale):
    """Half-pixel source coordinates (i + 0.5) / scale - 0.5 of the outputs."""
    return (tf.cast(tf.range(n_out), tf.float32) + 0.5) * inv_scale - 0.5


def _bilinear_matrix(n_in, n_out, inv_scale):
    """PyTorch bilinear along one axis: two taps, negative source coordinates clamped to 0."""
    src = tf.maximum(_source(n_out, inv_scale), 0.0)  # PyTorch clamps negative sources for linear modes
    i0 = tf.minimum(tf.cast(tf.floor(src), tf.int32), n_in - 1)
    frac = src - tf.cast(i0, tf.float32)
    indices = tf.stack([i0, tf.minimum(i0 + 1, n_in - 1)], axis=1)
    return _taps_matrix(indices, tf.stack([1.0 - frac, frac], axis=1), n_in)


def _cubic(t):
    """Keys cubic convolution weight with a = -0.75 at distance |t| < 2."""
    t = tf.abs(t)
    a = _CUBIC_A
    near = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    far = ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a
    return tf.where(t <= 1.0, near, far)


def _bicubic_matrix(n_in, n_out, inv_scale):
    """PyTorch bicubic along one axis: four taps (a = -0.75), indices clamped to the image."""
    src = _source(n_out, inv_scale)
    floor = tf.floor(src)
    frac = src - floor
    offsets = tf.constant([-1, 0, 1, 2])
    indices = tf.clip_by_value(tf.cast(floor, tf.int32)[:, None] + offsets, 0, n_in - 1)
    weights = _cubic(frac[:, None] - tf.cast(offsets, tf.float32))
    return _taps_matrix(indices, weights, n_in)


def resize_matrix(n_in, n_out, mode, scale=None):
    """[n_out, n_in] matrix of PyTorch ``F.interpolate`` along one axis (align_corners=False, no antialias).

    ``mode`` is a name in RESIZE_MODES or its index. ``scale`` is the ``scale_factor`` given to
    F.interpolate, which PyTorch uses for the source coordinates (1 / scale); without it the ratio
    n_in / n_out is used.
    """
    if isinstance(mode, str):
        mode = RESIZE_MODES.index(mode)
    n_in, n_out = tf.cast(n_in, tf.int32), tf.cast(n_out, tf.int32)
    if scale is None:
        inv_scale = tf.cast(n_in, tf.float32) / tf.cast(n_out, tf.float32)
    else:
        inv_scale = 1.0 / tf.cast(scale, tf.float32)
    return _interpolation_matrix(n_in, n_out, tf.cast(mode, tf.int32), inv_scale)


@tf.function(input_signature=[_INT, _INT, _INT, _FLOAT], autograph=False)
def _interpolation_matrix(n_in, n_out, mode, inv_scale):
    """The three modes' matrices, one picked (a graph function: traced once, called by every resize)."""
    matrices = tf.stack([_area_matrix(n_in, n_out), _bilinear_matrix(n_in, n_out, inv_scale),
                         _bicubic_matrix(n_in, n_out, inv_scale)])
    return tf.gather(matrices, mode)


@tf.function(input_signature=[_IMAGES, tf.TensorSpec([None, None], tf.float32)], autograph=False)
def _apply_rows(images, matrix):
    """``matrix`` [O, I] applied along axis 1 of [N, I, W, C], block by block of output rows.

    Resize matrices are banded, so each block of _BLOCK_ROWS output rows only multiplies the input
    rows its weights touch: same result as the dense product, a fraction of its cost for large images.
    """
    block = _BLOCK_ROWS
    n_out, n_in = tf.shape(matrix)[0], tf.shape(matrix)[1]
    blocks = (n_out + block - 1) // block
    m = tf.reshape(tf.pad(matrix, [[0, blocks * block - n_out], [0, 0]]), [blocks, block, n_in])
    used = tf.cast(tf.reduce_any(tf.not_equal(m, 0.0), axis=1), tf.int32)  # [blocks, n_in]
    first = tf.argmax(used, axis=1, output_type=tf.int32)
    last = n_in - 1 - tf.argmax(used[:, ::-1], axis=1, output_type=tf.int32)
    window = first[:, None] + tf.range(tf.reduce_max(last - first) + 1)  # [blocks, width]
    inside = tf.minimum(window, n_in - 1)
    weights = tf.gather(m, inside, axis=2, batch_dims=1) * tf.cast(window < n_in, tf.float32)[:, None, :]
    out = tf.einsum("kbw,nkwxc->nkbxc", weights, tf.gather(images, inside, axis=1))
    shape = tf.shape(out)
    return tf.reshape(out, [shape[0], blocks * block, shape[3], shape[4]])[:, :n_out]


def resize(images, size, mode, scale=None):
    """Resizes [N, H, W, C] to ``size`` (h, w) like ``F.interpolate`` with ``mode`` (see ``resize_matrix``)."""
    shape = tf.shape(images)
    out = _apply_rows(images, resize_matrix(shape[1], size[0], mode, scale))
    out = _apply_rows(tf.transpose(out, [0, 2, 1, 3]), resize_matrix(shape[2], size[1], mode, scale))
    return tf.transpose(out, [0, 2, 1, 3])


def resize_by(images, scale, mode):
    """``F.interpolate(scale_factor=scale)``: output floor(H * scale) x floor(W * scale), at least 1."""
    shape = tf.cast(tf.shape(images)[1:3], tf.float32)
    size = tf.maximum(tf.cast(tf.floor(shape * scale), tf.int32), 1)
    return resize(images, size, mode, scale)


def add_gaussian_noise(images, noise):
    """x + N(0, sigma/255) per image, colour or (``gray``) one map for all channels; clipped to [0, 1]."""
    colour = tf.random.stateless_normal(tf.shape(images), noise.seed)
    grey = colour[..., :1]  # an independent map too, for an image that uses it instead of ``colour``
    maps = tf.where(noise.gray[:, None, None, None], grey, colour) * (noise.sigma / 255.0)[:, None, None, None]
    return tf.clip_by_value(images + maps, 0.0, 1.0)


def quantize(images):
    """Rounds [0, 1] values to the 8-bit grid (clipped), still float."""
    return tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0) / 255.0


def poisson_levels(image):
    """2^ceil(log2(number of distinct 8-bit values)) of one quantised image: BasicSR's Poisson ``vals``."""
    codes = tf.cast(tf.reshape(tf.round(image * 255.0), [-1]), tf.int32)
    distinct = tf.reduce_sum(tf.cast(tf.math.bincount(codes, minlength=256, maxlength=256) > 0, tf.int32))
    exponent = tf.reduce_sum(tf.cast(tf.bitwise.left_shift(1, tf.range(9)) < distinct, tf.int32))
    return tf.cast(tf.bitwise.left_shift(1, exponent), tf.float32)


def _poisson_noise(image, seed):
    """Poisson(q * vals) / vals - q on the quantised image q."""
    q = quantize(image)
    vals = poisson_levels(q)
    return tf.random.stateless_poisson(tf.shape(q), seed, q * vals, dtype=tf.float32) / vals - q


def add_poisson_noise(images, noise):
    """BasicSR Poisson (shot) noise times ``scale``, colour or (``gray``) from the grey image; clipped to [0, 1].

    Image by image, so only the noise an image uses is drawn (the Poisson sampler is the costly op).
    """
    def one(args):
        image, scale, gray, index = args
        seed = tf.random.experimental.stateless_fold_in(noise.seed, index)
        grey_image = tf.reduce_sum(image * tf.constant(GREY_WEIGHTS, tf.float32), axis=-1, keepdims=True)
        maps = tf.cond(gray, lambda: tf.broadcast_to(_poisson_noise(grey_image, seed), tf.shape(image)),
                       lambda: _poisson_noise(image, seed))
        return tf.clip_by_value(image + maps * scale, 0.0, 1.0)

    elems = (images, noise.scale, noise.gray, tf.range(tf.shape(images)[0]))
    return tf.map_fn(one, elems, fn_output_signature=tf.float32)


def add_noise(images, gaussian, noise):
    """Gaussian noise if ``gaussian`` (a task-level bool) else Poisson noise."""
    return tf.cond(gaussian, lambda: add_gaussian_noise(images, noise), lambda: add_poisson_noise(images, noise))


def jpeg(images, quality):
    """JPEG round trip through libjpeg (``tf.io``): 8-bit RGB in, 4:2:0, quality rounded to an integer.

    Stands in for BasicSR's DiffJPEG, which quantises the float image's DCT with the same tables
    scaled by the same quality rule but without 8-bit input or integer quality.
    """
    q = tf.cast(tf.clip_by_value(tf.round(quality), 1.0, 100.0), tf.int32)
    codes = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)

    def round_trip(image):
        data = tf.raw_ops.EncodeJpegVariableQuality(images=image, quality=q)
        return tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")

    out = tf.map_fn(round_trip, codes, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    return tf.cast(out, tf.float32) / 255.0


def gaussian_kernel_1d(size, sigma=0.0):
    """OpenCV ``getGaussianKernel(size, sigma)`` for sizes above 7: sigma <= 0 means 0.3((size-1)/2 - 1) + 0.8."""
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = tf.range(size, dtype=tf.float64) - (size - 1) / 2.0
    kernel = tf.exp(-x * x / (2.0 * sigma * sigma))
    return tf.cast(kernel / tf.reduce_sum(kernel), tf.float32)


def usm_sharp(images, weight=0.5, radius=50, threshold=10.0):
    """BasicSR USMSharp: add ``weight`` times the residual from a Gaussian blur where it exceeds ``threshold``/255.

    The hard mask |residual| * 255 > threshold is softened by the same blur.
    """
    size = radius + 1 if radius % 2 == 0 else radius
    g = gaussian_kernel_1d(size)
    kernel = g[:, None] * g[None, :]
    residual = images - filter2d(images, kernel)
    mask = tf.cast(tf.abs(residual) * 255.0 > threshold, tf.float32)
    soft = filter2d(mask, kernel)
    sharp = tf.clip_by_value(images + weight * residual, 0.0, 1.0)
    return soft * sharp + (1.0 - soft) * images


def _final_stage(images, task, lq_size):
    """Resize to the LQ size + sinc filter, and JPEG(quality2), sinc first if ``task.sinc_first``."""
    size = tf.stack([lq_size, lq_size])

    def resize_and_sinc(x):
        return filter2d(resize(x, size, task.mode3), task.sinc_kernel)

    x = tf.cond(task.sinc_first, lambda: resize_and_sinc(images), lambda: images)
    x = jpeg(x, task.quality2)  # clamps first
    return tf.cond(task.sinc_first, lambda: x, lambda: resize_and_sinc(x))


def degrade(images, task, noise1, noise2, lq_size):
    """The second-order chain (SPEC section 6.3, steps 2-5): [N, H, W, 3] in [0, 1] -> [N, lq, lq, 3], 8-bit grid.

    Round 1: blur (kernel1), resize by scale1, noise, JPEG(quality1). Round 2: blur (kernel2) if ``blur2``,
    resize to int(lq_size * scale2), noise. Then ``_final_stage`` and rounding to 8 bits.
    """
    x = filter2d(images, task.kernel1)
    x = resize_by(x, task.scale1, task.mode1)
    x = add_noise(x, task.gaussian1, noise1)
    x = jpeg(x, task.quality1)
    x = tf.cond(task.blur2, lambda: filter2d(x, task.kernel2), lambda: x)
    size2 = tf.maximum(tf.cast(tf.cast(lq_size, tf.float32) * task.scale2, tf.int32), 1)
    x = resize(x, tf.stack([size2, size2]), task.mode2)
    x = add_noise(x, task.gaussian2, noise2)
    x = quantize(_final_stage(x, task, lq_size))
    return tf.ensure_shape(x, [images.shape[0], lq_size, lq_size, images.shape[-1]])
