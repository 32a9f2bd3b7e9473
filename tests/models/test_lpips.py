"""Keras LPIPS vs a NumPy implementation of the LPIPS formula and vs values of the PyTorch ``lpips`` package."""

import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
import tensorflow as tf

from metaf2n_tf.errors import WeightsError
from metaf2n_tf.models.lpips import lpips_model
from metaf2n_tf.weights.torchvision import load_lpips, read_alexnet, read_lpips_lin, set_lpips_weights
from tests import optional, pth_writer
from tests.metrics.lpips_reference import ALEXNET, TORCH_LPIPS, alexnet_weights, image_pairs



def random_lin(seed=5):
    rng = np.random.default_rng(seed)
    return {f"lin{k}.model.1.weight": rng.uniform(0, 0.2, (1, c, 1, 1)).astype(np.float32)
            for k, c in enumerate((64, 192, 384, 256, 256))}


# ---- NumPy reference: the LPIPS v0.1 formula (docs/upstream.md), written directly -------------------------------

def _np_conv_relu(x, w, b, stride, pad):
    """NHWC convolution with symmetric zero padding (PyTorch semantics), then ReLU."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw = w.shape[2:]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.maximum(np.einsum("nhwcij,ocij->nhwo", win, w, optimize=True) + b, 0)


def _np_maxpool(x):
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))[:, ::2, ::2]
    return win.max(axis=(-2, -1))


def numpy_lpips(x0, x1, sd, lin):
    shift = np.array([-0.030, -0.088, -0.188])
    scale = np.array([0.458, 0.448, 0.450])
    total = 0.0
    feats = []
    for x in (x0, x1):
        h = ((x * 2 - 1) - shift) / scale
        taps = []
        for i, (_, _, _, _, stride, pad) in ALEXNET.items():
            if i in (3, 6):
                h = _np_maxpool(h)
            h = _np_conv_relu(h, sd[f"features.{i}.weight"].astype(np.float64), sd[f"features.{i}.bias"], stride, pad)
            taps.append(h)
        feats.append(taps)
    for k, (f0, f1) in enumerate(zip(*feats)):
        n0 = f0 / (np.sqrt((f0**2).sum(-1, keepdims=True)) + 1e-10)
        n1 = f1 / (np.sqrt((f1**2).sum(-1, keepdims=True)) + 1e-10)
        total = total + ((n0 - n1) ** 2 @ lin[f"lin{k}.model.1.weight"][0, :, 0, 0]).mean(axis=(1, 2))
    return total


@pytest.fixture(scope="module")
def weights():
    return alexnet_weights(), random_lin()


def test_matches_numpy_formula(weights):
    sd, lin = weights
    rng = np.random.default_rng(0)
    x0 = rng.random((2, 67, 71, 3))
    x1 = np.clip(x0 + rng.normal(0, 0.1, x0.shape), 0, 1)
    got = set_lpips_weights(lpips_model(), sd, lin)([x0.astype(np.float32), x1.astype(np.float32)]).numpy()
    want = numpy_lpips(x0, x1, sd, lin)
    assert got.shape == (2,)
    np.testing.assert_allclose(got, want, rtol=2e-4)


@optional.LPIPS
def test_matches_pytorch_lpips_values(weights, tmp_path):
    path = tmp_path / "alexnet.pth"
    pth_writer.save(weights[0], path)
    model = load_lpips(str(path))
    a, b = image_pairs()
    got = model([a.astype(np.float32) / 255, b.astype(np.float32) / 255]).numpy()
    np.testing.assert_allclose(got, TORCH_LPIPS, rtol=1e-5, atol=1e-8)


@optional.LPIPS
def test_official_lin_weights_shapes():
    lin = read_lpips_lin()
    assert {k: v.shape for k, v in lin.items()} == {
        f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate((64, 192, 384, 256, 256))
    }
    assert all(np.all(v >= 0) for v in lin.values())  # the released heads are clamped non-negative


def test_identical_images_give_zero_and_finite_gradient_in_tf_function(weights):
    model = set_lpips_weights(lpips_model(), *weights)
    assert not model.trainable_weights
    x = tf.constant(np.random.default_rng(1).random((1, 40, 40, 3)), tf.float32)
    black = tf.zeros((1, 40, 40, 3))  # all-zero features somewhere: the unit normalisation must not give NaN

    @tf.function
    def loss_and_grad(a, b):
        with tf.GradientTape() as tape:
            tape.watch(a)
            loss = tf.reduce_mean(model([a, b]))
        return loss, tape.gradient(loss, a)

    loss, grad = loss_and_grad(x, x)
    assert abs(float(loss)) < 1e-7 and np.all(np.isfinite(grad.numpy()))
    loss, grad = loss_and_grad(black, x)
    assert float(loss) == pytest.approx(numpy_lpips(black.numpy(), x.numpy(), *weights)[0], rel=1e-3)
    assert np.all(np.isfinite(grad.numpy())) and np.any(grad.numpy() != 0)


def test_missing_alexnet_file_names_what_to_supply(tmp_path):
    with pytest.raises(WeightsError, match="alexnet-owt-7be5be79.pth.*--alexnet_weights"):
        read_alexnet(str(tmp_path / "none.pth"))


def test_alexnet_reader_accepts_lpips_module_keys_and_rejects_bad_shapes(weights, tmp_path):
    sd = weights[0]
    slices = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
    as_module = {k.replace("features.", f"net.slice{slices[int(k.split('.')[1])]}."): v for k, v in sd.items()}
    pth_writer.save({**as_module, "lin0.model.1.weight": np.zeros((1, 64, 1, 1), np.float32)}, tmp_path / "m.pth")
    got = read_alexnet(str(tmp_path / "m.pth"))
    assert sorted(got) == sorted(sd) and np.array_equal(got["features.8.weight"], sd["features.8.weight"])
    pth_writer.save({**sd, "features.3.weight": np.zeros((192, 64, 3, 3), np.float32)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=r"has shape \(192, 64, 3, 3\), expected \(192, 64, 5, 5\)"):
        read_alexnet(str(tmp_path / "bad.pth"))


def test_linear_heads_are_required(weights):
    with pytest.raises(WeightsError, match=r"5 tensor\(s\) missing, first 'lin0_model_1\.weight'"):
        set_lpips_weights(lpips_model(), weights[0], {})


@optional.LPIPS
def test_lin_file_is_found_without_importing_lpips():
    import sys

    read_lpips_lin()
    assert "lpips" not in sys.modules  # its wrapper is broken: only the file is used
