"""UNetDiscriminatorSN vs a NumPy re-implementation (PyTorch conventions), spectral norm vs SVD, netD .pth loading."""
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.errors import WeightsError
from metaf2n_tf.models.discriminator import power_iteration, unet_discriminator_sn, update_spectral_norms
from metaf2n_tf.weights.pth import load_pth, state_dict
from metaf2n_tf.weights.torchvision import set_netd_weights
from tests import pth_writer

# (layer, in, out, kernel, stride, spectral norm) of Real-ESRGAN's discriminator for num_feat = f.
LAYERS = lambda f: [  # noqa: E731
    ("conv0", 3, f, 3, 1, False), ("conv1", f, 2 * f, 4, 2, True), ("conv2", 2 * f, 4 * f, 4, 2, True),
    ("conv3", 4 * f, 8 * f, 4, 2, True), ("conv4", 8 * f, 4 * f, 3, 1, True), ("conv5", 4 * f, 2 * f, 3, 1, True),
    ("conv6", 2 * f, f, 3, 1, True), ("conv7", f, f, 3, 1, True), ("conv8", f, f, 3, 1, True),
    ("conv9", f, 1, 3, 1, False),
]


def random_netd(num_feat, seed=0):
    """A Real-ESRGAN-style netD state dict (OIHW, ``weight_orig``/``weight_u``/``weight_v``)."""
    rng = np.random.default_rng(seed)
    sd = {}
    for name, cin, cout, k, _, sn in LAYERS(num_feat):
        w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
        if sn:
            u = rng.standard_normal(cout)
            sd[f"{name}.weight_orig"] = w
            sd[f"{name}.weight_u"] = (u / np.linalg.norm(u)).astype(np.float32)
            sd[f"{name}.weight_v"] = rng.standard_normal(cin * k * k).astype(np.float32)
        else:
            sd[f"{name}.weight"] = w
            sd[f"{name}.bias"] = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    return sd


# ---- NumPy reference, written from the layer table of docs/upstream.md and PyTorch's conv / interpolate semantics ----------

def np_conv(x, w_oihw, stride, bias=None):
    """NHWC convolution with one pixel of zero padding on each side (PyTorch padding=1)."""
    x = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    k = w_oihw.shape[-1]
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    out = np.einsum("nhwcij,ocij->nhwo", win, w_oihw, optimize=True)
    return out if bias is None else out + bias


def np_upsample2(x):
    """Bilinear x2, align_corners=False: source = (dst + 0.5) / 2 - 0.5, clamped at the borders."""
    def along(x, axis):
        n = x.shape[axis]
        src = np.maximum((np.arange(2 * n) + 0.5) / 2 - 0.5, 0)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        t = (src - lo).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
        return np.take(x, lo, axis) * (1 - t) + np.take(x, hi, axis) * t
    return along(along(x, 1), 2)


def np_sn(w_oihw, u):
    """MetaF2N's one power iteration on the HWIO kernel as [k*k*in, out]; returns (W / sigma, u')."""
    mat = w_oihw.transpose(2, 3, 1, 0).reshape(-1, w_oihw.shape[0])
    v = u[None] @ mat.T
    v /= np.linalg.norm(v) + 1e-12
    u_new = v @ mat
    u_new /= np.linalg.norm(u_new) + 1e-12
    sigma = (v @ mat @ u_new.T)[0, 0]
    return w_oihw / sigma, u_new[0]


def np_discriminator(x, sd, num_feat):
    lrelu = lambda a: np.where(a > 0, a, 0.2 * a)  # noqa: E731
    feats, skips = x, []
    for name, _, _, _, stride, sn in LAYERS(num_feat):
        i = int(name[4:])
        w = np_sn(sd[f"{name}.weight_orig"], sd[f"{name}.weight_u"])[0] if sn else sd[f"{name}.weight"]
        if i in (4, 5, 6):
            feats = np_upsample2(feats)
        feats = np_conv(feats, w, stride, None if sn else sd[f"{name}.bias"])
        if i == 9:
            return feats
        feats = lrelu(feats)
        if i in (4, 5, 6):
            feats = feats + skips[6 - i]
        if i <= 3:
            skips.append(feats)


@pytest.fixture(scope="module")
def small():
    sd = random_netd(num_feat=8)
    model = unet_discriminator_sn(num_feat=8)
    set_netd_weights(model, sd, "netD.pth")
    return model, sd


def test_forward_matches_numpy_reference(small):
    model, sd = small
    x = np.random.default_rng(1).random((2, 16, 24, 3)).astype(np.float32)
    got = model(x).numpy()
    assert got.shape == (2, 16, 24, 1)
    np.testing.assert_allclose(got, np_discriminator(x.astype(np.float64), sd, 8), rtol=1e-4, atol=1e-5)


def test_forward_leaves_u_alone_and_update_stores_one_power_iteration(small):
    model, sd = small
    before = model.get_layer("conv3").u.numpy().copy()
    model(np.zeros((1, 8, 8, 3), np.float32))
    np.testing.assert_array_equal(model.get_layer("conv3").u.numpy(), before)
    update_spectral_norms(model)
    for i in range(1, 9):
        expected = np_sn(sd[f"conv{i}.weight_orig"], sd[f"conv{i}.weight_u"])[1]
        np.testing.assert_allclose(model.get_layer(f"conv{i}").u.numpy()[0], expected, rtol=1e-5, atol=1e-6)
    set_netd_weights(model, sd, "netD.pth")  # back to the stored u for the other tests


def test_power_iteration_converges_to_largest_singular_value():
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((4, 4, 6, 5)).astype(np.float32)
    u = rng.standard_normal((1, 5)).astype(np.float32)
    for _ in range(60):
        u, sigma = power_iteration(kernel, u)
    assert np.isclose(float(sigma), np.linalg.svd(kernel.reshape(-1, 5), compute_uv=False)[0], rtol=1e-4)


def test_real_esrgan_size():
    model = unet_discriminator_sn()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    # conv0 3*64*9+64, conv1..3 (64*128+128*256+256*512)*16, conv4..8 (512*256+256*128+128*64+2*64*64)*9, conv9 64*9+1
    assert trainable == 1792 + 2752512 + 1622016 + 577
    assert [w.shape[-1] for w in model.non_trainable_weights] == [128, 256, 512, 256, 128, 64, 64, 64]


def test_pth_file_round_trip_and_errors(tmp_path):
    sd = random_netd(num_feat=8, seed=4)
    path = tmp_path / "RealESRGAN_x4plus_netD.pth"
    pth_writer.save({"params": sd}, path)
    model = unet_discriminator_sn(num_feat=8)
    set_netd_weights(model, state_dict(load_pth(path), path), str(path))
    kernel = model.get_layer("conv2").weight.numpy()
    np.testing.assert_array_equal(kernel, sd["conv2.weight_orig"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(model.get_layer("conv9").bias.numpy(), sd["conv9.bias"])
    missing = {k: v for k, v in sd.items() if k != "conv5.weight_u"}
    with pytest.raises(WeightsError, match=r"netD\.pth: 1 discriminator tensor\(s\) missing, first 'conv5.weight_u'"):
        set_netd_weights(model, missing, "netD.pth")
    with pytest.raises(WeightsError, match=r"1 unexpected discriminator tensor\(s\), first 'conv_first.weight'"):
        set_netd_weights(model, {**sd, "conv_first.weight": sd["conv0.weight"]}, "netD.pth")
    shape_error = r"'conv3.weight_orig' has shape \(64, 16, 4, 4\), expected \(64, 32, 4, 4\)"
    with pytest.raises(WeightsError, match=shape_error):
        set_netd_weights(model, {**sd, "conv3.weight_orig": np.zeros((64, 16, 4, 4), np.float32)}, "netD.pth")
