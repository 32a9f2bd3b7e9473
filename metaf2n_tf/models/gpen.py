"""GPEN generator (GAN Prior Embedded Network, Yang et al., CVPR 2021) as a Keras functional model, NHWC.

GPEN-BFR restores an aligned face: a convolutional encoder turns the face into a style code and a
pyramid of features; a StyleGAN2 synthesis network (mapping MLP, modulated convolutions with
demodulation, blur-filtered upsampling, ToRGB skip path) decodes the code, and at every resolution
the encoder feature of that size is concatenated to the activations where StyleGAN2 would inject
noise. So the "noise" is the encoder's output and the network is deterministic.

One Keras layer per upstream leaf module: the layer name is the module path and the variable name
the parameter name, so ``f"{layer.name}.{variable.name}"`` is the key in the upstream ``.pth``
(``generator.convs.3.conv.weight``). Weight layouts are Keras' own (HWIO kernels, [in, out] dense);
``metaf2n_tf.weights.gpen`` converts. Raw parameters are stored as upstream stores them and the
equalized-learning-rate scales are applied at run time, as upstream does.

Conventions of the model: input RGB in [-1, 1] (``(x / 255 - 0.5) / 0.5``), [N, size, size, 3];
output RGB, linear, about [-1, 1]. Pre/post-processing lives in ``metaf2n_tf.faces.gpen``.
"""
import math

import keras
import numpy as np
import tensorflow as tf

BLUR_KERNEL = (1, 3, 3, 1)
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
EPS = 1e-8
GPEN_BFR_512 = {"size": 512, "channel_multiplier": 2, "narrow": 1.0}
GPEN_BFR_256 = {"size": 256, "channel_multiplier": 1, "narrow": 0.5}


def gpen_channels(size, channel_multiplier=2, narrow=1.0):
    """Channels per resolution, the StyleGAN2 table GPEN uses: 512·narrow up to 32², then halving."""
    table = {}
    res = 4
    while res <= size:
        base = 512 if res <= 32 else (16384 // res) * channel_multiplier
        table[res] = int(base * narrow)
        res *= 2
    return table


def make_kernel(taps=BLUR_KERNEL):
    """Separable FIR kernel: the outer product of ``taps`` with itself, normalised to sum 1."""
    taps = np.asarray(taps, dtype=np.float32)
    kernel = np.outer(taps, taps)
    return kernel / kernel.sum()


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """Upsample by zero insertion, zero-pad, convolve with a 2-D FIR kernel, keep every ``down``-th pixel.

    NHWC; the same factors and ``pad = (before, after)`` on both spatial axes (non-negative pads only).
    The filter is a true convolution (kernel flipped), per channel. Spatial sizes must be static.
    """
    _, height, width, channels = x.shape
    if up > 1:
        x = tf.reshape(x, [-1, height, 1, width, 1, channels])
        x = tf.pad(x, [[0, 0], [0, 0], [0, up - 1], [0, 0], [0, up - 1], [0, 0]])
        x = tf.reshape(x, [-1, height * up, width * up, channels])
    x = tf.pad(x, [[0, 0], list(pad), list(pad), [0, 0]])
    flipped = np.ascontiguousarray(np.asarray(kernel, np.float32)[::-1, ::-1])
    depthwise = np.tile(flipped[:, :, None, None], (1, 1, channels, 1))
    x = tf.nn.depthwise_conv2d(x, tf.constant(depthwise, dtype=x.dtype), [1, 1, 1, 1], "VALID")
    if down > 1:
        x = x[:, ::down, ::down, :]
    return x


def fused_leaky_relu(x, bias):
    """``sqrt(2) · leaky_relu(x + bias, 0.2)``, the bias broadcast over the last (channel) axis."""
    return LRELU_GAIN * tf.nn.leaky_relu(x + bias, alpha=LRELU_SLOPE)


def _normal(stddev=1.0):
    return keras.initializers.RandomNormal(stddev=stddev)


class UpFirDn2d(keras.layers.Layer):
    """A fixed FIR filter (upstream ``Blur`` / ``Upsample``); ``kernel`` is the upstream buffer value."""

    def __init__(self, kernel, up=1, down=1, pad=(0, 0), **kwargs):
        super().__init__(**kwargs)
        self.kernel = np.asarray(kernel, dtype=np.float32)
        self.up, self.down, self.pad = up, down, tuple(pad)

    def call(self, x):
        return upfirdn2d(x, self.kernel, self.up, self.down, self.pad)


class EqualConv2d(keras.layers.Layer):
    """Convolution with weight ~ N(0, 1) scaled by 1/sqrt(fan_in) at run time; zero padding ``padding``."""

    def __init__(self, filters, kernel_size, stride=1, padding=0, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size
        self.stride, self.padding, self.use_bias = stride, padding, use_bias

    def build(self, input_shape):
        in_ch = input_shape[-1]
        self.scale = 1.0 / math.sqrt(in_ch * self.kernel_size**2)
        k = self.kernel_size
        self.weight = self.add_weight(name="weight", shape=(k, k, in_ch, self.filters), initializer=_normal())
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None

    def call(self, x):
        p = self.padding
        if p:
            x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        out = tf.nn.conv2d(x, self.weight * self.scale, self.stride, "VALID")
        return out + self.bias if self.use_bias else out


class EqualLinear(keras.layers.Layer):
    """Dense layer with run-time scale ``lr_mul / sqrt(in)`` on the weight and ``lr_mul`` on the bias.

    With ``activation=True`` the bias goes through :func:`fused_leaky_relu` (upstream 'fused_lrelu').
    """

    def __init__(self, units, bias_init=0.0, lr_mul=1.0, activation=False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.bias_init, self.lr_mul, self.activation = units, bias_init, lr_mul, activation

    def build(self, input_shape):
        in_dim = input_shape[-1]
        self.scale = self.lr_mul / math.sqrt(in_dim)
        self.weight = self.add_weight(name="weight", shape=(in_dim, self.units), initializer=_normal(1.0 / self.lr_mul))
        self.bias = self.add_weight(
            name="bias", shape=(self.units,), initializer=keras.initializers.Constant(self.bias_init)
        )

    def call(self, x):
        out = tf.matmul(x, self.weight * self.scale)
        bias = self.bias * self.lr_mul
        return fused_leaky_relu(out, bias) if self.activation else out + bias


class FusedLeakyReLU(keras.layers.Layer):
    """Per-channel bias, then leaky ReLU (slope 0.2) times sqrt(2)."""

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer="zeros")

    def call(self, x):
        return fused_leaky_relu(x, self.bias)


class PixelNorm(keras.layers.Layer):
    """``x / sqrt(mean over features of x² + 1e-8)``."""

    def call(self, x):
        return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + EPS)


class ModulatedConv2d(keras.layers.Layer):
    """StyleGAN2 modulated convolution: W' = W · s / sqrt(fan_in), demodulated to unit norm per output.

    ``call(x, style)`` takes the modulation ``style`` [N, in] (the output of the ``.modulation``
    EqualLinear). The weight is never materialised per sample: the input is scaled by ``s`` and the
    output by the demodulation factor, which is the same linear map as the upstream grouped conv.
    ``upsample=True`` is the stride-2 transposed convolution (output 2H+1, to be blurred to 2H by
    the ``.blur`` layer that follows it).
    """

    def __init__(self, filters, kernel_size, demodulate=True, upsample=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size
        self.demodulate, self.upsample = demodulate, upsample

    def build(self, x_shape, style_shape):
        in_ch = x_shape[-1]
        self.scale = 1.0 / math.sqrt(in_ch * self.kernel_size**2)
        k = self.kernel_size
        self.weight = self.add_weight(name="weight", shape=(k, k, in_ch, self.filters), initializer=_normal())

    def call(self, x, style):
        weight = self.weight * self.scale
        x = x * style[:, None, None, :]
        if self.upsample:
            _, height, width, _ = x.shape
            k = self.kernel_size
            out_shape = tf.stack([tf.shape(x)[0], 2 * height + k - 2, 2 * width + k - 2, self.filters])
            out = tf.nn.conv2d_transpose(x, tf.transpose(weight, [0, 1, 3, 2]), out_shape, 2, "VALID")
            out = tf.ensure_shape(out, [None, 2 * height + k - 2, 2 * width + k - 2, self.filters])
        else:
            out = tf.nn.conv2d(x, weight, 1, "SAME")
        if self.demodulate:
            energy = tf.matmul(tf.square(style), tf.reduce_sum(tf.square(weight), axis=[0, 1]))
            out = out * tf.math.rsqrt(energy + EPS)[:, None, None, :]
        return out


class NoiseInjection(keras.layers.Layer):
    """GPEN's noise injection with concatenation: ``concat([x, weight · feature], channels)``."""

    def build(self, x_shape, feature_shape):
        self.weight = self.add_weight(name="weight", shape=(1,), initializer="zeros")

    def call(self, x, feature):
        return tf.concat([x, self.weight * feature], axis=-1)


class ConstantInput(keras.layers.Layer):
    """The learned 4x4 constant that starts the synthesis, repeated over the batch of ``reference``."""

    def __init__(self, channels, size=4, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.size = channels, size

    def build(self, reference_shape):
        self.constant = self.add_weight(
            name="input", shape=(1, self.size, self.size, self.channels), initializer=_normal()
        )

    def call(self, reference):
        return tf.tile(self.constant, [tf.shape(reference)[0], 1, 1, 1])


class Bias(keras.layers.Layer):
    """Adds a learned per-channel bias (the ToRGB bias)."""

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer="zeros")

    def call(self, x):
        return x + self.bias


def _down_pad(kernel_len, conv_size):
    p = (kernel_len - 2) + (conv_size - 1)
    return ((p + 1) // 2, p // 2)


def _up_conv_pad(kernel_len, conv_size):
    p = (kernel_len - 2) - (conv_size - 1)
    return ((p + 1) // 2 + 1, p // 2 + 1)


def _up_skip_pad(kernel_len):
    p = kernel_len - 2
    return ((p + 1) // 2 + 1, p // 2)


def _encoder(image, channels, size, blur_kernel):
    """ecd0 (1x1 conv) then ecd1.. (blur, 3x3 stride-2 conv) down to 4x4; returns {resolution: feature}."""
    x = EqualConv2d(channels[size], 1, use_bias=False, name="ecd0.0.0")(image)
    x = FusedLeakyReLU(name="ecd0.0.1")(x)
    features = {size: x}
    res, n = size // 2, 1
    while res >= 4:
        x = UpFirDn2d(make_kernel(blur_kernel), pad=_down_pad(len(blur_kernel), 3), name=f"ecd{n}.0.0")(x)
        x = EqualConv2d(channels[res], 3, stride=2, use_bias=False, name=f"ecd{n}.0.1")(x)
        x = FusedLeakyReLU(name=f"ecd{n}.0.2")(x)
        features[res] = x
        res, n = res // 2, n + 1
    return features


def _mapping(code, style_dim, n_mlp, lr_mlp):
    """PixelNorm and ``n_mlp`` EqualLinear layers (lr_mul ``lr_mlp``, fused lrelu): style code -> w."""
    w = PixelNorm(name="generator.style.0")(code)
    for i in range(1, n_mlp + 1):
        w = EqualLinear(style_dim, lr_mul=lr_mlp, activation=True, name=f"generator.style.{i}")(w)
    return w


def _styled_conv(x, w, feature, filters, upsample, blur_kernel, prefix):
    """Modulated 3x3 conv (optionally x2 up), concat of the encoder feature, fused lrelu."""
    style = EqualLinear(x.shape[-1], bias_init=1.0, name=f"{prefix}.conv.modulation")(w)
    x = ModulatedConv2d(filters, 3, upsample=upsample, name=f"{prefix}.conv")(x, style)
    if upsample:
        kernel = make_kernel(blur_kernel) * 4
        x = UpFirDn2d(kernel, pad=_up_conv_pad(len(blur_kernel), 3), name=f"{prefix}.conv.blur")(x)
    x = NoiseInjection(name=f"{prefix}.noise")(x, feature)
    return FusedLeakyReLU(name=f"{prefix}.activate")(x)


def _to_rgb(x, w, skip, blur_kernel, prefix):
    """1x1 modulated conv to RGB (no demodulation) + bias, plus the x2-upsampled previous RGB."""
    style = EqualLinear(x.shape[-1], bias_init=1.0, name=f"{prefix}.conv.modulation")(w)
    rgb = ModulatedConv2d(3, 1, demodulate=False, name=f"{prefix}.conv")(x, style)
    rgb = Bias(name=prefix)(rgb)
    if skip is None:
        return rgb
    kernel = make_kernel(blur_kernel) * 4
    skip = UpFirDn2d(kernel, up=2, pad=_up_skip_pad(len(blur_kernel)), name=f"{prefix}.upsample")(skip)
    return keras.layers.Add(name=f"{prefix}.add_skip")([rgb, skip])


def gpen(size=512, channel_multiplier=2, narrow=1.0, style_dim=512, n_mlp=8, lr_mlp=0.01,
         blur_kernel=BLUR_KERNEL, name="GPEN"):
    """Builds GPEN's ``FullGenerator`` (input size = output size), randomly initialised as upstream.

    Args:
        size: face size, a power of two >= 8 (512 for GPEN-BFR-512, 256 for GPEN-BFR-256).
        channel_multiplier: widens resolutions >= 64 (2 for BFR-512, 1 for BFR-256).
        narrow: scales every channel count (1 for BFR-512, 0.5 for BFR-256).
        style_dim: width of the style code and mapping network.
        n_mlp: number of mapping layers.
        lr_mlp: learning-rate multiplier of the mapping layers (scales their weights at run time).
        blur_kernel: taps of the separable FIR filter used around every resampling.
        name: model name.

    Returns:
        ``keras.Model`` [N, size, size, 3] RGB in [-1, 1] -> [N, size, size, 3] RGB, linear.
    """
    log_size = int(round(math.log2(size))) if size > 0 else 0
    if size < 8 or 2**log_size != size:
        raise ValueError(f"GPEN size must be a power of two >= 8, got {size}")
    channels = gpen_channels(size, channel_multiplier, narrow)
    if min(channels.values()) < 1:
        raise ValueError(f"narrow={narrow} leaves a resolution without channels: {channels}")
    image = keras.Input((size, size, 3), name="image")
    features = _encoder(image, channels, size, blur_kernel)
    flat = keras.layers.Flatten(name="flatten_nchw")(keras.layers.Permute((3, 1, 2))(features[4]))
    code = EqualLinear(style_dim, activation=True, name="final_linear.0")(flat)
    w = _mapping(code, style_dim, n_mlp, lr_mlp)
    # Every synthesis layer gets the same w (one style, no mixing, truncation 1).
    x = ConstantInput(channels[4], name="generator.input")(w)
    x = _styled_conv(x, w, features[4], channels[4], False, blur_kernel, "generator.conv1")
    rgb = _to_rgb(x, w, None, blur_kernel, "generator.to_rgb1")
    for i in range(log_size - 2):
        res = 2 ** (i + 3)
        x = _styled_conv(x, w, features[res], channels[res], True, blur_kernel, f"generator.convs.{2 * i}")
        x = _styled_conv(x, w, features[res], channels[res], False, blur_kernel, f"generator.convs.{2 * i + 1}")
        rgb = _to_rgb(x, w, rgb, blur_kernel, f"generator.to_rgbs.{i}")
    return keras.Model(image, rgb, name=name)
