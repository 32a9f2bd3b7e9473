"""The Keras face-api.js 68-point net against a NumPy implementation written here from the manifest.

The reference reads the shipped manifest and shard itself (uint8 values q -> q · scale + min, tensors
back to back in manifest order), and runs the architecture face-api.js describes (see the model's
docstring) with plain NumPy convolutions: TensorFlow 'same' padding (for stride 2 on an even side,
nothing before and one pixel after), depthwise then pointwise, in float64.
"""
import json
import os

import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.models.face_landmark68 import face_landmark68

ASSETS = os.path.join(os.path.dirname(__file__), "..", "..", "metaf2n_tf", "assets", "face_landmark_68")


def manifest_weights():
    """{name: float64 array} dequantised from the shipped files, independently of the package's reader."""
    with open(os.path.join(ASSETS, "face_landmark_68_model-weights_manifest.json")) as f:
        [group] = json.load(f)
    data = b"".join(open(os.path.join(ASSETS, p), "rb").read() for p in group["paths"])
    out, offset = {}, 0
    for w in group["weights"]:
        n = int(np.prod(w["shape"]))
        q = np.frombuffer(data[offset:offset + n], np.uint8).astype(np.float64)
        out[w["name"]] = (q * w["quantization"]["scale"] + w["quantization"]["min"]).reshape(w["shape"])
        offset += n
    assert offset == len(data)
    return out


def pad_same(x, stride):
    """TensorFlow 'same' padding of a 3x3 window: total = max(3 - stride, 3 - side % stride) rows, less before."""
    pads = []
    for side in x.shape[1:3]:
        total = max(3 - stride, 0) if side % stride == 0 else max(3 - side % stride, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)])


def windows(x, stride):
    """[N, H', W', 3, 3, C] 3x3 windows of the 'same'-padded input."""
    x = pad_same(x, stride)
    n, h, w, c = x.shape
    oh, ow = (h - 3) // stride + 1, (w - 3) // stride + 1
    out = np.empty((n, oh, ow, 3, 3, c))
    for i in range(3):
        for j in range(3):
            out[:, :, :, i, j] = x[:, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return out


def conv(x, filters, bias, stride):
    return np.einsum("nhwijc,ijco->nhwo", windows(x, stride), filters) + bias


def separable(x, depthwise, pointwise, bias, stride):
    depth = np.einsum("nhwijc,ijc->nhwc", windows(x, stride), depthwise[..., 0])
    return depth @ pointwise[0, 0] + bias


def reference(images, w):
    """[N, 112, 112, 3] RGB 0..255 -> [N, 136]."""
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    x = (images.astype(np.float64) - np.array([122.782, 117.001, 104.298])) / 255.0
    for b in range(4):
        p = lambda k: {s: w[f"dense{b}/conv{k}/{s}"] for s in ("filters", "depthwise_filter", "pointwise_filter", "bias")  # noqa: E731
                       if f"dense{b}/conv{k}/{s}" in w}
        c0 = p(0)
        o1 = relu(conv(x, c0["filters"], c0["bias"], 2) if b == 0 else
                  separable(x, c0["depthwise_filter"], c0["pointwise_filter"], c0["bias"], 2))
        sep = lambda v, k: separable(v, p(k)["depthwise_filter"], p(k)["pointwise_filter"], p(k)["bias"], 1)  # noqa: E731
        o2 = sep(o1, 1)
        o3 = sep(relu(o1 + o2), 2)
        o4 = sep(relu(o1 + o2 + o3), 3)
        x = relu(o1 + o2 + o3 + o4)
    assert x.shape[1:] == (7, 7, 256)
    return x.mean(axis=(1, 2)) @ w["fc/weights"] + w["fc/bias"]


@pytest.fixture(scope="module")
def weights():
    return manifest_weights()


def test_builder_shapes_and_names():
    model = face_landmark68()
    assert model.input_shape == (None, 112, 112, 3) and model.output_shape == (None, 136)
    # 356,840 values: one per byte of the uint8 shard.
    assert model.count_params() == 356_840 == os.path.getsize(os.path.join(ASSETS, "face_landmark_68_model.bin"))
    names = {layer.name for layer in model.layers if layer.weights}
    assert names == {f"dense{b}_conv{k}" for b in range(4) for k in range(4)} | {"fc"}


def test_keras_net_matches_numpy_reference(weights):
    from metaf2n_tf.weights.face_landmark68 import load_face_landmark68

    rng = np.random.default_rng(3)
    smooth = np.kron(rng.uniform(0, 255, (2, 14, 14, 3)), np.ones((1, 8, 8, 1)))  # face-like low frequencies
    images = np.concatenate([smooth, rng.uniform(0, 255, (1, 112, 112, 3))]).astype(np.float32)
    got = load_face_landmark68()(images).numpy()
    expected = reference(images, weights)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)
    assert np.abs(expected[0] - expected[1]).max() > 0.01  # the inputs matter
