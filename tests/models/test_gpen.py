"""GPEN generator vs a NumPy reference written from upstream's FullGenerator (NCHW, PyTorch weight layouts).

The reference materialises the modulated weight of every sample and runs explicit tap loops, the way
the upstream grouped convolution does; the port scales activations instead. Its blocks are first
pinned to hand-computed values; then the Keras model, loaded from a ``.pth`` the test writes, is
compared end to end on a narrow 64² configuration.
"""
import math

import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.models import gpen as g
from metaf2n_tf.weights.gpen import load_gpen
from tests import pth_writer

SQRT2 = math.sqrt(2.0)
TINY = {"size": 64, "channel_multiplier": 1, "narrow": 1 / 32}  # channels 16 up to 32², 8 at 64²


# ---------------------------------------------------------------- NumPy reference (NCHW, torch layouts)

def ref_kernel(taps=(1, 3, 3, 1)):
    k = np.outer(taps, taps).astype(np.float64)
    return k / k.sum()


def ref_upfirdn(x, kernel, up=1, down=1, pad=(0, 0)):
    """Zero insertion after every pixel, zero pad, true convolution, decimation."""
    n, c, h, w = x.shape
    if up > 1:
        z = np.zeros((n, c, h * up, w * up))
        z[:, :, ::up, ::up] = x
        x = z
    x = np.pad(x, ((0, 0), (0, 0), pad, pad))
    kh, kw = kernel.shape
    oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros((n, c, oh, ow))
    for a in range(kh):
        for b in range(kw):
            out += kernel[kh - 1 - a, kw - 1 - b] * x[:, :, a:a + oh, b:b + ow]
    return out[:, :, ::down, ::down]


def ref_conv(x, w, stride=1, pad=0):
    """Cross-correlation, x [N, I, H, W], w [O, I, k, k] (or [N, O, I, k, k]: one weight per sample)."""
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[-1]
    oh, ow = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
    spec = "nihw,noi->nohw" if w.ndim == 5 else "nihw,oi->nohw"
    out = 0
    for a in range(k):
        for b in range(k):
            patch = x[:, :, a:a + stride * (oh - 1) + 1:stride, b:b + stride * (ow - 1) + 1:stride]
            out = out + np.einsum(spec, patch, w[..., a, b])
    return out


def ref_conv_transpose2(x, w):
    """Stride-2 transposed conv, no padding: out[o, 2y+a, 2x+b] += x[i, y, x] · w[n, o, i, a, b]."""
    n, _, h, wd = x.shape
    k = w.shape[-1]
    out = np.zeros((n, w.shape[1], 2 * h + k - 2, 2 * wd + k - 2))
    for a in range(k):
        for b in range(k):
            out[:, :, a:a + 2 * h:2, b:b + 2 * wd:2] += np.einsum("nihw,noi->nohw", x, w[..., a, b])
    return out


def ref_equal_conv(x, w, stride=1):
    """EqualConv2d: the weight scaled by 1/sqrt(fan_in) at run time, no padding (the encoder's use)."""
    return ref_conv(x, w / math.sqrt(w[0].size), stride)


def ref_lrelu(x, bias):
    y = x + bias.reshape((1, -1) + (1,) * (x.ndim - 2))
    return SQRT2 * np.where(y >= 0, y, 0.2 * y)


def ref_linear(x, weight, bias, lr_mul=1.0, activate=False):
    out = x @ (weight * lr_mul / math.sqrt(weight.shape[1])).T
    return ref_lrelu(out, bias * lr_mul) if activate else out + bias * lr_mul


def ref_modconv(x, weight, style, demodulate=True, upsample=False, blur=True):
    """Per-sample modulated weight [N, O, I, k, k], demodulated, then a conv or an upsampling conv.

    ``upsample``: the stride-2 transposed convolution, then (``blur``) upstream's [1, 3, 3, 1] blur.
    """
    _, out_ch, in_ch, k, _ = weight.shape
    w = weight / math.sqrt(in_ch * k * k) * style[:, None, :, None, None]
    if demodulate:
        w = w / np.sqrt((w**2).sum(axis=(2, 3, 4), keepdims=True) + 1e-8)
    if upsample:
        up = ref_conv_transpose2(x, w)
        return ref_upfirdn(up, ref_kernel() * 4, pad=(1, 1)) if blur else up
    return ref_conv(x, w, pad=k // 2)


def ref_styled(x, sd, prefix, latent, feature, upsample):
    style = ref_linear(latent, sd[f"{prefix}.conv.modulation.weight"], sd[f"{prefix}.conv.modulation.bias"])
    out = ref_modconv(x, sd[f"{prefix}.conv.weight"], style, upsample=upsample)
    out = np.concatenate([out, sd[f"{prefix}.noise.weight"][0] * feature], axis=1)
    return ref_lrelu(out, sd[f"{prefix}.activate.bias"])


def ref_to_rgb(x, sd, prefix, latent, skip):
    style = ref_linear(latent, sd[f"{prefix}.conv.modulation.weight"], sd[f"{prefix}.conv.modulation.bias"])
    out = ref_modconv(x, sd[f"{prefix}.conv.weight"], style, demodulate=False) + sd[f"{prefix}.bias"]
    if skip is not None:
        out = out + ref_upfirdn(skip, ref_kernel() * 4, up=2, pad=(2, 1))
    return out


def ref_gpen(x, sd, size):
    """Upstream FullGenerator's forward on NCHW [-1, 1] input with a PyTorch state dict."""
    log_size = int(math.log2(size))
    feats = [ref_lrelu(ref_equal_conv(x, sd["ecd0.0.0.weight"]), sd["ecd0.0.1.bias"])]
    for n in range(1, log_size - 1):
        h = ref_upfirdn(feats[-1], ref_kernel(), pad=(2, 2))
        feats.append(ref_lrelu(ref_equal_conv(h, sd[f"ecd{n}.0.1.weight"], stride=2), sd[f"ecd{n}.0.2.bias"]))
    code = ref_linear(feats[-1].reshape(len(x), -1), sd["final_linear.0.weight"], sd["final_linear.0.bias"],
                      activate=True)
    latent = code / np.sqrt((code**2).mean(axis=1, keepdims=True) + 1e-8)
    for i in range(1, 9):
        latent = ref_linear(latent, sd[f"generator.style.{i}.weight"], sd[f"generator.style.{i}.bias"], 0.01, True)
    by_res = {f.shape[-1]: f for f in feats}
    out = np.repeat(sd["generator.input.input"], len(x), axis=0)
    out = ref_styled(out, sd, "generator.conv1", latent, by_res[4], False)
    skip = ref_to_rgb(out, sd, "generator.to_rgb1", latent, None)
    for i in range(log_size - 2):
        res = 2 ** (i + 3)
        out = ref_styled(out, sd, f"generator.convs.{2 * i}", latent, by_res[res], True)
        out = ref_styled(out, sd, f"generator.convs.{2 * i + 1}", latent, by_res[res], False)
        skip = ref_to_rgb(out, sd, f"generator.to_rgbs.{i}", latent, skip)
    return skip


def random_state_dict(size, channel_multiplier, narrow, seed=0, lazy=False):
    """A random GPEN FullGenerator state dict in PyTorch layouts, shapes from upstream's channel table
    (docs/upstream.md).

    ``lazy=True``: zero-memory zero arrays of the right shapes (for key/shape tables of big models).
    """
    rng = np.random.default_rng(seed)
    ch = {2**i: int((512 if i <= 5 else 2 ** (14 - i) * channel_multiplier) * narrow) for i in range(2, 12)}
    log_size = int(math.log2(size))
    sd = {}

    def normal(*shape, scale=1.0, mean=0.0):
        if lazy:
            return np.broadcast_to(np.float32(mean), shape)
        return (mean + scale * rng.standard_normal(shape)).astype(np.float32)

    sd["ecd0.0.0.weight"], sd["ecd0.0.1.bias"] = normal(ch[size], 3, 1, 1), normal(ch[size], scale=0.2)
    for n in range(1, log_size - 1):
        cin, cout = ch[size >> (n - 1)], ch[size >> n]
        sd[f"ecd{n}.0.0.kernel"] = ref_kernel().astype(np.float32)
        sd[f"ecd{n}.0.1.weight"], sd[f"ecd{n}.0.2.bias"] = normal(cout, cin, 3, 3), normal(cout, scale=0.2)
    sd["final_linear.0.weight"], sd["final_linear.0.bias"] = normal(512, ch[4] * 16), normal(512, scale=0.2)
    for i in range(1, 9):
        sd[f"generator.style.{i}.weight"] = normal(512, 512, scale=100.0)  # randn / lr_mul, as upstream inits
        sd[f"generator.style.{i}.bias"] = normal(512, scale=0.2)
    sd["generator.input.input"] = normal(1, ch[4], 4, 4)

    def modulated(prefix, cin, cout, k):
        sd[f"{prefix}.conv.weight"] = normal(1, cout, cin, k, k)
        sd[f"{prefix}.conv.modulation.weight"] = normal(cin, 512)
        sd[f"{prefix}.conv.modulation.bias"] = normal(cin, scale=0.2, mean=1.0)

    def styled(prefix, cin, cout, upsample):
        modulated(prefix, cin, cout, 3)
        if upsample:
            sd[f"{prefix}.conv.blur.kernel"] = (ref_kernel() * 4).astype(np.float32)
        sd[f"{prefix}.noise.weight"] = normal(1, scale=0.5)
        sd[f"{prefix}.activate.bias"] = normal(2 * cout, scale=0.2)

    styled("generator.conv1", ch[4], ch[4], False)
    modulated("generator.to_rgb1", 2 * ch[4], 3, 1)
    sd["generator.to_rgb1.bias"] = normal(1, 3, 1, 1, scale=0.2)
    for i in range(log_size - 2):
        cin, cout = ch[2 ** (i + 2)], ch[2 ** (i + 3)]
        styled(f"generator.convs.{2 * i}", 2 * cin, cout, True)
        styled(f"generator.convs.{2 * i + 1}", 2 * cout, cout, False)
        modulated(f"generator.to_rgbs.{i}", 2 * cout, 3, 1)
        sd[f"generator.to_rgbs.{i}.bias"] = normal(1, 3, 1, 1, scale=0.2)
        sd[f"generator.to_rgbs.{i}.upsample.kernel"] = (ref_kernel() * 4).astype(np.float32)
    return sd


def nhwc(x):
    return np.transpose(x, (0, 2, 3, 1))


def nchw(x):
    return np.transpose(x, (0, 3, 1, 2))


# ---------------------------------------------------------------- the reference against hand values

def test_reference_blocks_hand_computed():
    np.testing.assert_allclose(ref_kernel() * 64, np.outer([1, 3, 3, 1], [1, 3, 3, 1]))
    # x2 upsampling of an impulse (pad (2, 1), gain 4): rows/cols 0..2 are 4·k[1..3] ⊗ k[1..3], row/col 3 zero.
    impulse = np.zeros((1, 1, 2, 2))
    impulse[0, 0, 0, 0] = 1
    up = ref_upfirdn(impulse, ref_kernel() * 4, up=2, pad=(2, 1))[0, 0]
    hand = 4 * np.outer([3, 3, 1, 0], [3, 3, 1, 0]) / 64  # out[i, j] = 4 · K[1 + i, 1 + j]
    np.testing.assert_allclose(up, hand)
    # A constant stays constant away from the borders: blur, x2 upsampling and x2 downsampling.
    const = np.full((1, 1, 8, 8), 3.0)
    np.testing.assert_allclose(ref_upfirdn(const, ref_kernel(), pad=(1, 1))[..., 2:-2, 2:-2], 3.0)
    np.testing.assert_allclose(ref_upfirdn(const, ref_kernel() * 4, up=2, pad=(2, 1))[..., 3:-3, 3:-3], 3.0)
    np.testing.assert_allclose(ref_upfirdn(const, ref_kernel(), down=2, pad=(2, 2))[..., 1:-1, 1:-1], 3.0)
    np.testing.assert_allclose(ref_lrelu(np.array([[[-1.0, 0.0, 2.0]]]), np.array([0.5])).ravel(),
                               [-0.1 * SQRT2, 0.5 * SQRT2, 2.5 * SQRT2])
    # 1x1 modulated conv, 2 in -> 1 out, w = (3, 4), s = (1, 1), x = (1, 2): (3 + 8) / 5 demodulated.
    x = np.array([1.0, 2.0]).reshape(1, 2, 1, 1)
    w = np.array([3.0, 4.0]).reshape(1, 1, 2, 1, 1)
    assert ref_modconv(x, w, np.ones((1, 2)))[0, 0, 0, 0] == pytest.approx(2.2)
    assert ref_modconv(x, w, np.ones((1, 2)), demodulate=False)[0, 0, 0, 0] == pytest.approx(11 / SQRT2)


# ---------------------------------------------------------------- the port's blocks

def test_channel_tables_of_the_released_models():
    assert g.gpen_channels(**g.GPEN_BFR_512) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256,
                                                 256: 128, 512: 64}
    assert g.gpen_channels(**g.GPEN_BFR_256) == {4: 256, 8: 256, 16: 256, 32: 256, 64: 128, 128: 64, 256: 32}


@pytest.mark.parametrize("up,down,pad", [(2, 1, (2, 1)), (1, 2, (2, 2)), (1, 1, (1, 1))])
def test_upfirdn2d_matches_reference(up, down, pad):
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    kernel = ref_kernel() * (4 if up > 1 else 1)
    got = g.upfirdn2d(nhwc(x), kernel.astype(np.float32), up, down, pad).numpy()
    np.testing.assert_allclose(nchw(got), ref_upfirdn(x, kernel, up, down, pad), atol=1e-5)


def test_fused_leaky_relu_hand_values():
    layer = g.FusedLeakyReLU()
    x = np.array([-1.0, 0.0, 2.0], np.float32).reshape(1, 1, 1, 3)
    layer.build(x.shape)
    layer.bias.assign([0.5, 0.5, 0.5])
    np.testing.assert_allclose(layer(x).numpy().ravel(), [-0.1 * SQRT2, 0.5 * SQRT2, 2.5 * SQRT2], rtol=1e-6)


def test_modulated_conv_hand_values():
    x = np.array([1.0, 2.0], np.float32).reshape(1, 1, 1, 2)
    for demodulate, expected in ((True, 2.2), (False, 11 / SQRT2)):
        layer = g.ModulatedConv2d(1, 1, demodulate=demodulate)
        layer.build(x.shape, (1, 2))
        layer.weight.assign(np.array([3.0, 4.0], np.float32).reshape(1, 1, 2, 1))
        assert layer(x, np.ones((1, 2), np.float32)).numpy().item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("demodulate,upsample", [(True, False), (False, False), (True, True)])
def test_modulated_conv_matches_reference_per_sample(demodulate, upsample):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 6, 6)).astype(np.float32)
    weight = rng.standard_normal((1, 4, 5, 3, 3)).astype(np.float32)
    style = rng.uniform(0.2, 2.0, (2, 5)).astype(np.float32)  # a different style per sample
    layer = g.ModulatedConv2d(4, 3, demodulate=demodulate, upsample=upsample)
    layer.build((2, 6, 6, 5), (2, 5))
    layer.weight.assign(weight[0].transpose(2, 3, 1, 0))
    got = layer(nhwc(x), style)  # the upsampling layer stops before the blur (the next layer applies it)
    expected = ref_modconv(x, weight, style, demodulate, upsample, blur=False)
    assert got.shape == (2,) + expected.shape[2:] + (4,)  # NHWC of the reference's [2, 4, h, w]
    np.testing.assert_allclose(nchw(got.numpy()), expected, atol=1e-4)


def test_equal_linear_with_lr_mul_and_activation():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8)).astype(np.float32)
    weight, bias = rng.standard_normal((6, 8)).astype(np.float32) * 100, rng.standard_normal(6).astype(np.float32)
    layer = g.EqualLinear(6, lr_mul=0.01, activation=True)
    layer.build(x.shape)
    layer.weight.assign(weight.T)
    layer.bias.assign(bias)
    np.testing.assert_allclose(layer(x).numpy(), ref_linear(x, weight, bias, 0.01, True), rtol=1e-5, atol=1e-5)


def test_builder_rejects_sizes_that_are_not_powers_of_two():
    for size in (4, 48):
        with pytest.raises(ValueError, match="power of two"):
            g.gpen(size=size)


# ---------------------------------------------------------------- end to end, through a .pth

def test_generator_from_pth_matches_reference(tmp_path):
    sd = random_state_dict(**TINY)
    path = tmp_path / "gpen_tiny.pth"
    pth_writer.save(sd, path)
    model, arch = load_gpen(path)
    assert arch == {**TINY, "style_dim": 512, "n_mlp": 8}
    x = np.random.default_rng(4).uniform(-1, 1, (2, 3, 64, 64)).astype(np.float32)
    expected = ref_gpen(x.astype(np.float64), {k: v.astype(np.float64) for k, v in sd.items()}, 64)
    got = nchw(model(nhwc(x)).numpy())
    assert np.abs(expected).max() > 0.5  # a signal, not zeros
    np.testing.assert_allclose(got, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))
