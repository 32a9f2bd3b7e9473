"""UNetDiscriminatorSN, Real-ESRGAN's per-pixel discriminator, with spectral normalisation as MetaF2N runs it.

Layers (Real-ESRGAN / BasicSR ``UNetDiscriminatorSN``), every convolution padded by one pixel on each side, LeakyReLU 0.2 after all but
the last: ``conv0`` 3x3 (bias) -> ``conv1..3`` 4x4 stride 2 -> three times (bilinear x2, 3x3 conv, + skip)
-> ``conv7``, ``conv8`` 3x3 -> ``conv9`` 3x3 (bias, logits). ``conv1..8`` are spectrally normalised, without bias.

Spectral norm as in MetaF2N's TF code: the HWIO kernel is viewed as a matrix [k*k*in, out]; from the stored
``u`` [1, out] one power iteration gives v = l2n(u Wt), u' = l2n(v W) (both without gradient) and
sigma = v W u't; the layer uses W / sigma. The forward never changes ``u``: ``update_spectral_norms`` stores u'
once per training step, before the generator step (the original's separate assign ops).

Layer names are the PyTorch module names (``conv3`` <-> ``conv3.weight_orig`` / ``conv3.weight_u``);
``metaf2n_tf.weights.torchvision.set_netd_weights`` fills the model from a Real-ESRGAN ``netD`` state dict.
No loss and no file reading live here.
"""
import keras
import tensorflow as tf

from metaf2n_tf.models.spectral import unit_normal

NAME = "Discriminator"
SN_LAYERS = tuple(f"conv{i}" for i in range(1, 9))
_EPS = 1e-12


def l2_normalize(x, eps=_EPS):
    """``x / (||x|| + eps)`` over all elements (the original's ``_l2normalize``)."""
    return x / (tf.sqrt(tf.reduce_sum(tf.square(x))) + eps)


def power_iteration(kernel, u):
    """One power iteration on ``kernel`` viewed as [k*k*in, out]; returns (u' [1, out], sigma), no gradient to u."""
    matrix = tf.reshape(kernel, [-1, kernel.shape[-1]])
    v = tf.stop_gradient(l2_normalize(tf.matmul(u, matrix, transpose_b=True)))
    u_new = tf.stop_gradient(l2_normalize(tf.matmul(v, matrix)))
    sigma = tf.matmul(tf.matmul(v, matrix), u_new, transpose_b=True)[0, 0]
    return u_new, sigma


class SpectralConv2D(keras.layers.Layer):
    """Convolution without bias whose kernel is divided by its spectral-norm estimate (see the module docstring).

    Args:
        filters: output channels.
        kernel_size: square kernel side.
        strides: stride of the (unpadded) convolution; pad the input before the layer.
    """

    def __init__(self, filters, kernel_size, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides

    def build(self, input_shape):
        shape = (self.kernel_size, self.kernel_size, input_shape[-1], self.filters)
        self.weight = self.add_weight(shape=shape, initializer="glorot_uniform", name="weight")
        self.u = self.add_weight(shape=(1, self.filters), initializer=unit_normal, trainable=False, name="u")

    def normalized_kernel(self):
        """``weight / sigma`` with sigma from one power iteration started at the stored ``u``."""
        _, sigma = power_iteration(self.weight, self.u)
        return self.weight / sigma

    def call(self, x):
        return tf.nn.conv2d(x, self.normalized_kernel(), self.strides, "VALID")

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides}


def _padded(x, layer):
    """Symmetric one-pixel zero padding (PyTorch ``padding=1``), then ``layer``."""
    return layer(keras.layers.ZeroPadding2D(1, name=f"{layer.name}_pad")(x))


def _lrelu(x, name):
    return keras.layers.LeakyReLU(negative_slope=0.2, name=name)(x)


def unet_discriminator_sn(num_in_ch=3, num_feat=64, skip_connection=True, name=NAME):
    """Builds UNetDiscriminatorSN: RGB [N, H, W, num_in_ch] (H, W multiples of 8) -> logits [N, H, W, 1].

    Args:
        num_in_ch: input channels.
        num_feat: channels of the first layer (x2 per downsampling, 64 in Real-ESRGAN).
        skip_connection: add the encoder features to the decoder ones (True in Real-ESRGAN).
        name: model name.
    """
    inputs = keras.Input((None, None, num_in_ch), name="image")
    x0 = _lrelu(_padded(inputs, keras.layers.Conv2D(num_feat, 3, name="conv0")), "lrelu0")
    skips, x = [x0], x0
    for i, mult in ((1, 2), (2, 4), (3, 8)):
        x = _lrelu(_padded(x, SpectralConv2D(num_feat * mult, 4, 2, name=f"conv{i}")), f"lrelu{i}")
        skips.append(x)
    for i, mult in ((4, 4), (5, 2), (6, 1)):
        x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"up{i}")(x)
        x = _lrelu(_padded(x, SpectralConv2D(num_feat * mult, 3, 1, name=f"conv{i}")), f"lrelu{i}")
        if skip_connection:
            x = x + skips[6 - i]
    for i in (7, 8):
        x = _lrelu(_padded(x, SpectralConv2D(num_feat, 3, 1, name=f"conv{i}")), f"lrelu{i}")
    logits = _padded(x, keras.layers.Conv2D(1, 3, name="conv9"))
    return keras.Model(inputs, logits, name=name)


def spectral_layers(model):
    """The spectrally normalised layers of a discriminator, in order."""
    return [model.get_layer(name) for name in SN_LAYERS]


def update_spectral_norms(model):
    """Stores one power iteration's u' in every ``u`` (once per training step, before the generator step)."""
    for layer in spectral_layers(model):
        u_new, _ = power_iteration(layer.weight, layer.u)
        layer.u.assign(u_new)
