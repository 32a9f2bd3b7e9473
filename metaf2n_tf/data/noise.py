"""Gaussian and Poisson (shot) noise as BasicSR adds them, and rounding to the 8-bit grid."""
import tensorflow as tf

GREY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision rgb_to_grayscale, used for grey Poisson noise


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
