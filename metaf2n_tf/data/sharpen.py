"""BasicSR's USM sharpening of the natural ground truth (OpenCV's Gaussian kernel rule)."""
import tensorflow as tf

from metaf2n_tf.data.kernels import filter2d


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
