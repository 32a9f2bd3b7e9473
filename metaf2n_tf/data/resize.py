"""Resizing exactly as PyTorch ``F.interpolate`` (align_corners=False, no antialias): area, bilinear, bicubic.

Each axis is a matrix product with an [n_out, n_in] interpolation matrix, applied block by block because
the matrices are banded.
"""
import tensorflow as tf

from metaf2n_tf.data.degradation_config import RESIZE_MODES

_CUBIC_A = -0.75  # PyTorch's bicubic coefficient
_BLOCK_ROWS = 16  # output rows per block of a banded resize product
# signatures of the graph functions below: each is traced once, however often a task calls it
_INT = tf.TensorSpec([], tf.int32)
_FLOAT = tf.TensorSpec([], tf.float32)
_IMAGES = tf.TensorSpec([None, None, None, None], tf.float32)


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
