"""Degradation ops against NumPy / SciPy / OpenCV references on fixed parameters."""
import dataclasses
import math

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
import cv2
import numpy as np
import pytest
import tensorflow as tf
from scipy import special, stats
from skimage import data

from metaf2n_tf.data import degradations as deg
from metaf2n_tf.errors import ConfigError

CFG = deg.DegradationConfig()


def kernel_params(size=15, sigma_x=2.0, sigma_y=1.0, theta=0.6, beta=1.0, plateau=False, sinc=False, omega=1.0):
    return deg.KernelParams(
        size=tf.constant(size), sinc=tf.constant(sinc), omega=tf.constant(omega, tf.float32),
        sigma_x=tf.constant(sigma_x, tf.float32), sigma_y=tf.constant(sigma_y, tf.float32),
        theta=tf.constant(theta, tf.float32), beta=tf.constant(beta, tf.float32), plateau=tf.constant(plateau))


def padded_reference(values, size, pad_to=21):
    """Normalise a size x size array and zero-pad it to pad_to."""
    values = values / values.sum()
    pad = (pad_to - size) // 2
    return np.pad(values, pad)


def quadratic_form(size, sigma_x, sigma_y, theta):
    """g^T Sigma^-1 g on the size x size grid, g = (column, row) offsets, Sigma from its rotation."""
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    inv = np.linalg.inv(rot @ np.diag([sigma_x ** 2, sigma_y ** 2]) @ rot.T)
    half = size // 2
    q = np.zeros((size, size))
    for row in range(size):
        for col in range(size):
            g = np.array([col - half, row - half], float)
            q[row, col] = g @ inv @ g
    return q


def sample_images(n=2, size=48):
    """Crops of the astronaut photo, float32 [n, size, size, 3] in [0, 1]."""
    photo = data.astronaut()
    crops = [photo[100 + 40 * i:100 + 40 * i + size, 150:150 + size] for i in range(n)]
    return np.stack(crops).astype(np.float32) / 255.0


@pytest.mark.parametrize("theta,sigma_y", [(0.0, 2.0), (0.6, 1.0), (-2.5, 0.4)])
def test_gaussian_kernel_is_the_normalised_bivariate_pdf(theta, sigma_y):
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    cov = rot @ np.diag([2.0 ** 2, sigma_y ** 2]) @ rot.T
    half = 7
    cols, rows = np.meshgrid(np.arange(-half, half + 1), np.arange(-half, half + 1))
    pdf = stats.multivariate_normal([0, 0], cov).pdf(np.stack([cols, rows], -1))
    got = deg.mixed_kernel(kernel_params(15, 2.0, sigma_y, theta), 21).numpy()
    np.testing.assert_allclose(got, padded_reference(pdf, 15), rtol=1e-6, atol=1e-12)  # theta is float32
    assert abs(got.sum() - 1) < 1e-12


@pytest.mark.parametrize("plateau,beta", [(False, 0.7), (False, 3.2), (True, 1.0), (True, 1.8)])
def test_generalized_and_plateau_kernels_match_formula(plateau, beta):
    q = quadratic_form(11, 1.7, 0.9, 1.1)
    expected = 1.0 / (q ** beta + 1.0) if plateau else np.exp(-0.5 * q ** beta)
    got = deg.mixed_kernel(kernel_params(11, 1.7, 0.9, 1.1, beta, plateau), 21).numpy()
    np.testing.assert_allclose(got, padded_reference(expected, 11), rtol=1e-5, atol=1e-12)


def test_sinc_kernel_is_the_circular_lowpass():
    omega, size = 1.3, 9
    half = size // 2
    r = np.hypot(*np.meshgrid(np.arange(-half, half + 1.0), np.arange(-half, half + 1.0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = omega * special.j1(omega * r) / (2 * np.pi * r)
    expected[half, half] = omega ** 2 / (4 * np.pi)
    got = deg.blur_kernel(kernel_params(size, sinc=True, omega=omega), 21).numpy()
    np.testing.assert_allclose(got, padded_reference(expected, size), atol=1e-6)


def test_sampled_kernels_respect_the_config():
    for i in range(40):
        p = deg.sample_kernel(tf.constant([i, 7]), CFG, 2)
        size = int(p.size)
        assert size in CFG.kernel_range
        kernel = deg.blur_kernel(p, 21).numpy()
        assert abs(kernel.sum() - 1) < 1e-5
        pad = (21 - size) // 2
        assert not np.any(kernel[:pad]) and not np.any(kernel[:, 21 - pad:])
        if not bool(p.sinc):
            assert 0.2 <= float(p.sigma_x) <= 1.5 and 0.2 <= float(p.sigma_y) <= 1.5
            assert (0.5 <= float(p.beta) <= 4.0) or (bool(p.plateau) and 1.0 <= float(p.beta) <= 2.0)


def test_choice_frequencies_follow_probabilities():
    draws = deg.choice(tf.constant([3, 4]), CFG.kernel_prob, [40000]).numpy()
    freq = np.bincount(draws, minlength=6) / draws.size
    np.testing.assert_allclose(freq, CFG.kernel_prob, atol=0.01)
    assert not np.any(deg.choice(tf.constant([1, 1]), (0.5, 0.0, 0.5), [5000]).numpy() == 1)


def test_resize_scales_follow_their_type():
    scales = np.array([float(deg.sample_resize(tf.constant([i, 2]), (0.3, 0.4, 0.3), (0.3, 1.2))[0])
                       for i in range(150)])
    assert np.all((scales >= 0.3) & (scales <= 1.2))
    assert 0.15 < np.mean(scales == 1.0) < 0.45  # "keep", probability 0.3


def direct_correlation(padded, kernel):
    """Valid cross-correlation of [H, W, C] with [k, k], by summing shifted windows."""
    k = kernel.shape[0]
    h, w = padded.shape[0] - k + 1, padded.shape[1] - k + 1
    out = np.zeros((h, w, padded.shape[2]))
    for i in range(k):
        for j in range(k):
            out += kernel[i, j] * padded[i:i + h, j:j + w]
    return out


def test_filter2d_matches_opencv_reflect101():
    rng = np.random.default_rng(0)
    image = sample_images(1, 40)[0, :30]
    kernel = rng.random((21, 21)).astype(np.float32)
    kernel /= kernel.sum()
    expected = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    got = deg.filter2d(image[None], tf.constant(kernel))[0].numpy()
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_filter2d_reflects_again_on_images_smaller_than_the_kernel():
    rng = np.random.default_rng(1)
    image = rng.random((5, 6, 3))
    kernel = rng.random((21, 21))
    expected = direct_correlation(np.pad(image, ((10, 10), (10, 10), (0, 0)), mode="reflect"), kernel)
    got = deg.filter2d(tf.constant(image[None], tf.float32), tf.constant(kernel, tf.float32))[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_pulse_kernel_keeps_the_image():
    image = sample_images(1, 24)
    np.testing.assert_allclose(deg.filter2d(image, deg.pulse(21)).numpy(), image, atol=1e-5)


@pytest.mark.parametrize("mode,cv_mode", [("bilinear", cv2.INTER_LINEAR), ("bicubic", cv2.INTER_CUBIC)])
@pytest.mark.parametrize("scale", [1.5, 1.3, 0.5])
def test_resize_by_scale_matches_opencv(mode, cv_mode, scale):
    image = sample_images(1, 20)[0]
    expected = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv_mode)
    got = deg.resize_by(image[None], tf.constant(scale), deg.RESIZE_MODES.index(mode))[0].numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_resize_to_size_uses_the_size_ratio():
    image = sample_images(1, 30)[0, :, :27]
    expected = cv2.resize(image, (40, 17), interpolation=cv2.INTER_CUBIC)  # dsize is (w, h)
    got = deg.resize(image[None], (17, 40), "bicubic")[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_area_resize_is_adaptive_average_pooling():
    row = np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32)
    image = np.tile(row[None, :, None], (1, 1, 1))[None]  # [1, 1, 5, 1]
    got = deg.resize(tf.constant(image), (1, 3), "area")[0, 0, :, 0].numpy()
    np.testing.assert_allclose(got, [1.5, 3.0, 4.5])  # windows [0, 2), [1, 4), [3, 5)
    photo = sample_images(1, 40)[0]
    expected = cv2.resize(photo, (20, 20), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(deg.resize(photo[None], (20, 20), "area")[0].numpy(), expected, atol=1e-6)


def noise(n, sigma=10.0, scale=1.0, gray=False, seed=(5, 6)):
    return deg.NoiseParams(tf.fill([n], float(sigma)), tf.fill([n], float(scale)),
                           tf.constant([gray] * n if isinstance(gray, bool) else gray), tf.constant(seed))


def test_gaussian_noise_statistics_and_grey_maps():
    images = tf.fill([4, 96, 96, 3], 0.5)
    params = deg.NoiseParams(tf.constant([10.0, 10.0, 25.0, 25.0]), tf.ones([4]),
                             tf.constant([False, True, False, True]), tf.constant([3, 9]))
    residual = deg.add_gaussian_noise(images, params).numpy() - 0.5
    np.testing.assert_allclose(residual.std(axis=(1, 2, 3)) * 255, [10, 10, 25, 25], rtol=0.05)
    assert np.abs(residual.mean()) < 2e-3
    assert np.array_equal(residual[1, ..., 0], residual[1, ..., 2])  # grey: one map for all channels
    assert not np.array_equal(residual[0, ..., 0], residual[0, ..., 2])


def test_poisson_levels_count_distinct_values():
    def levels(count):
        values = np.arange(count, dtype=np.float32) / 255.0
        return float(deg.poisson_levels(tf.constant(np.resize(values, (16, 16, 3)))))

    assert [levels(1), levels(3), levels(128), levels(129), levels(256)] == [1, 4, 128, 256, 256]


def test_poisson_noise_is_shot_noise_on_the_level_grid():
    levels = np.array([10, 20, 30], np.float32) / 255.0  # three values: vals = 4, lambda = 4 q < 0.5
    image = np.resize(levels, (4, 64, 64, 3)).astype(np.float32)
    out = deg.add_poisson_noise(tf.constant(image), noise(4, scale=1.0)).numpy()
    counts = out * 4  # Poisson(4 q) / 4
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-4)
    for scale in (1.0, 0.5):
        residual = deg.add_poisson_noise(tf.constant(image), noise(4, scale=scale, seed=(2, 3))).numpy() - image
        assert abs(residual.mean()) < 0.05 * levels.mean()
        # Var(scale (P / 4 - q)) = scale^2 q / 4
        np.testing.assert_allclose(residual.var(), scale ** 2 * image.mean() / 4, rtol=0.05)


def test_grey_poisson_noise_shares_one_map():
    out = deg.add_poisson_noise(tf.constant(sample_images(2, 32)), noise(2, gray=[True, False])).numpy()
    residual = out - sample_images(2, 32)
    inside = (out > 0) & (out < 1)
    both = inside[0, ..., 0] & inside[0, ..., 1]
    np.testing.assert_allclose(residual[0, ..., 0][both], residual[0, ..., 1][both], atol=1e-6)
    assert not np.allclose(residual[1, ..., 0], residual[1, ..., 1])


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


def test_jpeg_quality_is_monotone_and_close_to_opencv():
    image = sample_images(1, 64)
    scores = [psnr(deg.jpeg(image, tf.constant(q))[0].numpy(), image[0]) for q in (30.0, 60.0, 95.0)]
    assert scores[0] < scores[1] < scores[2]
    codes = np.round(image[0] * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(codes, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 50])
    reference = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) / 255.0
    got = deg.jpeg(image, tf.constant(49.7))[0].numpy()  # quality rounds to 50
    assert np.mean(np.abs(got - reference)) < 1.0 / 255


def test_usm_sharp_matches_opencv():
    image = sample_images(1, 64)[0]
    blur = cv2.GaussianBlur(image, (51, 51), 0, borderType=cv2.BORDER_REFLECT_101)
    residual = image - blur
    mask = (np.abs(residual) * 255 > 10).astype(np.float32)
    soft = cv2.GaussianBlur(mask, (51, 51), 0, borderType=cv2.BORDER_REFLECT_101)
    expected = soft * np.clip(image + 0.5 * residual, 0, 1) + (1 - soft) * image
    np.testing.assert_allclose(deg.usm_sharp(image[None])[0].numpy(), expected, atol=2e-5)


def test_degrade_gives_8bit_lq_of_the_requested_size_and_follows_the_seed():
    images = tf.constant(sample_images(2, 48))

    def run(seed):
        s = deg.split_seed(tf.constant(seed), 3)
        task = deg.sample_task(s[0], CFG)
        return deg.degrade(images, task, deg.sample_noise(s[1], 2, CFG, 1), deg.sample_noise(s[2], 2, CFG, 2), 12)

    first, again, other = run([1, 2]).numpy(), run([1, 2]).numpy(), run([8, 9]).numpy()
    assert first.shape == (2, 12, 12, 3) and first.min() >= 0 and first.max() <= 1
    np.testing.assert_allclose(first * 255, np.round(first * 255), atol=1e-4)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_config_values_and_errors():
    assert deg.stage(CFG, 2).blur_sigma == (0.2, 1.5) and deg.stage(CFG, 1).noise_range == (1.0, 30.0)
    bad = [dict(kernel_prob=(0.5, 0.5)), dict(kernel_range=(7, 8)), dict(resize_range2=(1.1, 1.5)),
           dict(jpeg_range=(30, 120)), dict(flip_prob=1.5), dict(texture_tries=0)]
    for change in bad:
        with pytest.raises(ConfigError, match=next(iter(change))):
            dataclasses.replace(CFG, **change)
