"""FID: Fréchet distance vs SciPy's sqrtm formula and closed forms; FID Inception vs recorded pytorch-fid values."""
import zlib

import cv2
import numpy as np
import pytest
from scipy import linalg
from skimage import data

from metaf2n_tf.errors import InputError, WeightsError
from metaf2n_tf.metrics.fid import frechet_distance, gaussian_statistics, inception_input, load_inception, pool_features
from tests import pth_writer

# pytorch-fid 0.3.0 ``InceptionV3([3])`` (resize 299 + 2x-1 inside), torch 2.13.0 CPU, once outside the repo,
# with every parameter replaced by ``fake_param(key, shape)`` below: features of astronaut (512x512, shrunk)
# and of astronaut[100:196, 150:246] (96x96, enlarged) -> first five values, mean, L2 norm.
PYTORCH_FID = {
    "full": ([9.580038070678711, 0.17257851362228394, 0.0, 7.683389663696289, 8.400755882263184],
             4.596697972490354, 351.3736862383634),
    "crop": ([6.54062557220459, 0.051137346774339676, 0.0, 5.494905471801758, 5.487776279449463],
             3.1953823303419, 244.52942817149102),
}
# torchvision / pytorch-fid module names of the 94 BasicConv2d of the FID Inception.
BRANCHES = {
    "A": ["branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3",
          "branch_pool"],
    "B": ["branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"],
    "C": ["branch1x1", *(f"branch7x7_{i}" for i in range(1, 4)), *(f"branch7x7dbl_{i}" for i in range(1, 6)),
          "branch_pool"],
    "D": ["branch3x3_1", "branch3x3_2", *(f"branch7x7x3_{i}" for i in range(1, 5))],
    "E": ["branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_1", "branch3x3dbl_2",
          "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"],
}
BLOCKS = [("Mixed_5b", "A"), ("Mixed_5c", "A"), ("Mixed_5d", "A"), ("Mixed_6a", "B"), ("Mixed_6b", "C"),
          ("Mixed_6c", "C"), ("Mixed_6d", "C"), ("Mixed_6e", "C"), ("Mixed_7a", "D"), ("Mixed_7b", "E"),
          ("Mixed_7c", "E")]
STEM = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"]


def fake_param(key, shape):
    """Deterministic per-key random parameter (the recipe of PYTORCH_FID)."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    kind = key.rsplit(".", 1)[1]
    if kind == "weight" and len(shape) == 4:
        return (rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))).astype(np.float32)
    if kind in ("weight", "running_var"):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return (rng.standard_normal(shape) * (0.1 if kind in ("bias", "running_mean") else 1)).astype(np.float32)


def scipy_frechet(mu1, s1, mu2, s2):
    """pytorch-fid's formula: |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrtm(S1 S2))."""
    covmean = linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_frechet_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    want = 1 + 0 + 4 + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)  # = 5 + 1 + 1 + 4
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(want, abs=1e-12)
    assert want == 11.0


def test_frechet_matches_scipy_on_random_and_rank_deficient_covariances():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((40, 8)), rng.standard_normal((40, 8)) * 1.5 + 0.3
    stats_a, stats_b = gaussian_statistics(a), gaussian_statistics(b)
    assert frechet_distance(*stats_a, *stats_b) == pytest.approx(scipy_frechet(*stats_a, *stats_b), rel=1e-9)
    assert frechet_distance(*stats_a, *stats_a) == pytest.approx(0.0, abs=1e-9)
    # fewer images than dimensions: singular covariances, as for small test folders
    c, d = rng.standard_normal((5, 12)), rng.standard_normal((6, 12)) + 0.5
    stats_c, stats_d = gaussian_statistics(c), gaussian_statistics(d)
    assert frechet_distance(*stats_c, *stats_d) == pytest.approx(scipy_frechet(*stats_c, *stats_d), rel=1e-5)


def test_statistics_and_errors():
    x = np.random.default_rng(1).standard_normal((7, 3))
    mu, sigma = gaussian_statistics(x)
    np.testing.assert_allclose(mu, x.mean(0))
    np.testing.assert_allclose(sigma, (x - x.mean(0)).T @ (x - x.mean(0)) / 6)
    with pytest.raises(InputError, match="got 1 image"):
        gaussian_statistics(x[:1], "res")
    with pytest.raises(InputError, match="got shapes"):
        frechet_distance(mu, sigma, mu[:2], sigma[:2, :2])


def test_inception_input_is_half_pixel_bilinear_without_antialiasing():
    for image in (data.astronaut()[:200, :333], data.astronaut()[:64, :80]):
        want = cv2.resize(image.astype(np.float32) / 255, (299, 299), interpolation=cv2.INTER_LINEAR) * 2 - 1
        np.testing.assert_allclose(inception_input(image).numpy()[0], want, atol=1e-4)


def test_missing_weights_name_what_to_supply(tmp_path):
    with pytest.raises(WeightsError, match="pt_inception-2015-12-05-6726825d.pth.*--inception_weights"):
        load_inception(str(tmp_path / "none.pth"))
    with pytest.raises(WeightsError, match="--inception_weights"):
        load_inception(str(tmp_path / "none.h5"))


@pytest.mark.slow
def test_fid_inception_matches_recorded_pytorch_fid_features(tmp_path):
    from metaf2n_tf.models.inception import fid_inception

    shapes = {layer.name: [tuple(v.shape) for v in layer.weights] for layer in fid_inception().layers}
    modules = STEM + [f"{block}.{branch}" for block, kind in BLOCKS for branch in BRANCHES[kind]]
    sd = {"fc.weight": fake_param("fc.weight", (1008, 2048)), "fc.bias": fake_param("fc.bias", (1008,))}
    for m in modules:
        h, w, cin, cout = shapes[m.replace(".", "_") + "_conv"][0]
        sd[f"{m}.conv.weight"] = fake_param(f"{m}.conv.weight", (cout, cin, h, w))
        for p in ("weight", "bias", "running_mean", "running_var"):
            sd[f"{m}.bn.{p}"] = fake_param(f"{m}.bn.{p}", (cout,))
        sd[f"{m}.bn.num_batches_tracked"] = np.array(0, np.int64)
    assert len(sd) == 566  # the key count of pytorch-fid's state dict
    path = tmp_path / "pt_inception.pth"
    pth_writer.save(sd, path)
    model = load_inception(str(path))
    for name, image in (("full", data.astronaut()), ("crop", data.astronaut()[100:196, 150:246])):
        first, mean, norm = PYTORCH_FID[name]
        feats = pool_features(model, image)
        assert feats.shape == (2048,)
        np.testing.assert_allclose(feats[:5], first, rtol=1e-5, atol=1e-5)
        assert feats.mean() == pytest.approx(mean, rel=1e-5) and np.linalg.norm(feats) == pytest.approx(norm, rel=1e-5)
    del sd["Mixed_6b.branch7x7_2.conv.weight"]
    pth_writer.save(sd, path)
    with pytest.raises(WeightsError, match="Mixed_6b_branch7x7_2_conv"):
        load_inception(str(path))
