"""The degradation's settings: ``DegradationConfig`` (every value, checked when built) and ``stage``.

Names follow Real-ESRGAN's options file; a trailing ``2`` marks the second round, and ``stage(cfg, 1 or 2)``
reads one round's values. Nothing here draws or applies anything.
"""
import dataclasses
import math
from typing import NamedTuple

from metaf2n_tf.errors import ConfigError

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
RESIZE_TYPES = ("up", "down", "keep")
RESIZE_MODES = ("area", "bilinear", "bicubic")


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
