"""Winograd F(4x4, 3x3) in the OpenVINO graph against a NumPy direct convolution written here: the Toom-Cook
matrices, one conv of two concatenated maps, and a two-block RRDBNet (even and odd sizes, weights as constants
and as inputs, the trunk as a Loop and unrolled)."""
import importlib.util

import numpy as np
import pytest

from metaf2n_tf.adapt.ov_rrdbnet import build_rrdbnet_ov, input_arrays
from metaf2n_tf.adapt.ov_winograd import A_T, B_T, G, WinogradConvs
from metaf2n_tf.openvino_runtime import cpu_runtime, import_openvino

pytestmark = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")


def tiny_tensors(num_feat=16, grow=8, num_block=2, seed=5):
    """Random canonical tensors (HWIO kernels, He-like scale) of a small RRDBNet."""
    rng = np.random.default_rng(seed)
    shapes = {"conv_first": (3, num_feat), "conv_last": (num_feat, 3)}
    for b in range(num_block):
        for r in (1, 2, 3):
            for k in range(1, 6):
                shapes[f"body/{b}/rdb{r}/conv{k}"] = (num_feat + grow * (k - 1), grow if k < 5 else num_feat)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        shapes[name] = (num_feat, num_feat)
    tensors = {}
    for name, (cin, cout) in shapes.items():
        tensors[f"MODEL/{name}/weight"] = (rng.standard_normal((3, 3, cin, cout)) / np.sqrt(9 * cin)).astype(np.float32)
        tensors[f"MODEL/{name}/bias"] = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    return tensors


def conv3x3(x, kernel, bias):
    """Direct 3x3 conv, zero padding 1: x [H, W, C], HWIO kernel [3, 3, C, K] -> [H, W, K] (float64)."""
    height, width = x.shape[:2]
    padded = np.pad(x.astype(np.float64), ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((height, width, kernel.shape[3]))
    for r in range(3):
        for s in range(3):
            out += padded[r:r + height, s:s + width] @ kernel[r, s].astype(np.float64)
    return out + bias


def rrdbnet_numpy(t, x):
    """RRDBNet x4 on [H, W, 3] from canonical tensors, written out with ``conv3x3`` (float64)."""
    def conv(name, v, lrelu=False):
        y = conv3x3(v, t[f"MODEL/{name}/weight"], t[f"MODEL/{name}/bias"])
        return np.where(y > 0, y, 0.2 * y) if lrelu else y

    feat = body = conv("conv_first", x)
    blocks = sorted({name.split("/")[2] for name in t if name.startswith("MODEL/body/")}, key=int)
    for b in blocks:
        rrdb_in = body
        for r in (1, 2, 3):
            feats = [body]
            for k in range(1, 5):
                feats.append(conv(f"body/{b}/rdb{r}/conv{k}", np.concatenate(feats, -1), lrelu=True))
            body = 0.2 * conv(f"body/{b}/rdb{r}/conv5", np.concatenate(feats, -1)) + feats[0]
        body = 0.2 * body + rrdb_in
    feat = feat + conv("conv_body", body)
    for name in ("conv_up1", "conv_up2"):
        feat = conv(name, feat.repeat(2, 0).repeat(2, 1), lrelu=True)
    return conv("conv_last", conv("conv_hr", feat, lrelu=True))


def run_ov(model, feed):
    _, core, config = cpu_runtime()
    return core.compile_model(model, "CPU", config)(feed)[0]


def test_toom_cook_matrices_give_four_outputs_of_a_3_tap_correlation():
    rng = np.random.default_rng(0)
    for _ in range(5):
        d, g = rng.standard_normal(6), rng.standard_normal(3)
        expected = [d[i:i + 3] @ g for i in range(4)]
        np.testing.assert_allclose(A_T @ ((G @ g) * (B_T @ d)), expected, atol=1e-12)


@pytest.mark.parametrize("height,width", [(12, 8), (7, 10), (1, 5)])
def test_conv_of_two_maps_matches_numpy(height, width):
    import openvino.opset13 as ops

    rng = np.random.default_rng(height)
    a, b = rng.random((height, width, 5)).astype(np.float32), rng.random((height, width, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 8, 6)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    pa, pb = ops.parameter([height, width, 5], np.float32), ops.parameter([height, width, 3], np.float32)
    y = WinogradConvs(ops).conv([pa, pb], ops.constant(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))),
                                ops.constant(bias.reshape(1, -1, 1, 1)))
    out = run_ov(import_openvino().Model([y], [pa, pb]), [a, b])
    expected = conv3x3(np.concatenate([a, b], -1), kernel, bias)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.parametrize("height,width,weights_as_inputs,winograd,loop", [
    (24, 20, False, True, True), (13, 7, True, True, True), (13, 7, True, True, False), (13, 7, True, False, True)])
def test_rrdbnet_graph_matches_numpy_direct_convolution(height, width, weights_as_inputs, winograd, loop):
    """Winograd or direct convs, the trunk as a Loop over the blocks or unrolled, weights constant or fed."""
    tensors = tiny_tensors()
    x = np.random.default_rng(1).random((1, height, width, 3)).astype(np.float32)
    arrays = input_arrays(tensors)
    feed = {"lq": x, **(arrays if weights_as_inputs else {})}
    model = build_rrdbnet_ov(arrays, height, width, weights_as_inputs=weights_as_inputs, winograd=winograd, loop=loop)
    out = run_ov(model, feed)
    expected = rrdbnet_numpy(tensors, x[0])[None]
    assert out.shape == expected.shape == (1, 4 * height, 4 * width, 3)
    assert np.abs(expected).max() > 0.1  # not a vanishing output
    np.testing.assert_allclose(out, expected, atol=1e-4)
