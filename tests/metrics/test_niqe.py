"""NIQE pieces vs independent NumPy/SciPy computations, and whole-image values recorded from BasicSR and pyiqa."""
import os

import numpy as np
import pytest
from scipy import stats
from skimage import data

from metaf2n_tf.errors import InputError, WeightsError
from metaf2n_tf.metrics.niqe import aggd_fit, imresize, load_niqe_params, luma, mscn, niqe, resize_matrix

# BasicSR's ``imresize(x, 0.5)`` (basicsr/utils/matlab_functions.py at HEAD, run with torch 2.13.0 CPU,
# its float32 tensors switched to float64) of x = arange(70).reshape(7, 10) ** 1.5 % 17 / 17.
BASICSR_HALF = [
    [0.2456916474413283, 0.3415136809499194, 0.524241039722931, 0.4637405386253506, 0.5094828992689475],
    [0.48374476534894134, 0.3940013022338765, 0.5065715060707003, 0.5159759782815165, 0.43944054845047753],
    [0.575735552740421, 0.3129015599950962, 0.5532208098927669, 0.6208926617019076, 0.5828310611525629],
    [0.29454725784135316, 0.4434397522661326, 0.5254775033176265, 0.5158988791534153, 0.80789643018336],
]
# NIQE of the full scikit-image photos with the made-up parameters of ``synthetic_params`` below, once,
# outside the repo: "basicsr" = BasicSR's ``niqe()`` (HEAD) in float64 on the BT.601 luma
# round(rgb . (65.481, 128.553, 24.966) / 255 + 16); "pyiqa" = pyiqa 0.1.6.x ``calculate_niqe``
# (commit ac70d7a, float32 YIQ luma as in the original script) with these parameters written as .mat.
SYNTHETIC_REFERENCE = {
    "astronaut": {"basicsr": 17.078870662202, "pyiqa": 17.068372578801057},
    "coffee": {"basicsr": 17.65499025769189, "pyiqa": 17.687250348692796},
}
# The same with BasicSR's real ``niqe_pris_params.npz`` (float64 BasicSR / pyiqa 0.1.6.x as above).
REAL_REFERENCE = {
    "astronaut": {"basicsr": 3.1004515331844975, "pyiqa": 3.0623821765434442},
    "coffee": {"basicsr": 4.115331588269313, "pyiqa": 4.0615816078234825},
    "chelsea": {"basicsr": 2.625526679667967, "pyiqa": 2.5720773602778535},
    "rocket": {"basicsr": 6.970949396701675, "pyiqa": 7.035584390190073},
}
REAL_PARAMS = os.environ.get("METAF2N_NIQE_PARAMS", "weights/niqe_pris_params.npz")


def gaussian_window(size=7, sigma=7 / 6):
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * sigma**2))
    return g / g.sum()


def synthetic_params(path):
    """A made-up pristine model with the real file's layout (the recipe of SYNTHETIC_REFERENCE)."""
    rng = np.random.default_rng(2023)
    a = rng.standard_normal((36, 36))
    np.savez(path, mu_pris_param=np.linspace(0.05, 2.0, 36)[None], cov_pris_param=a @ a.T / 36 + 0.1 * np.eye(36),
             gaussian_window=gaussian_window())
    return path


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    return load_niqe_params(str(synthetic_params(tmp_path_factory.mktemp("niqe") / "params.npz")))


def test_imresize_matches_basicsr_and_a_naive_loop():
    x = np.arange(70, dtype=np.float64).reshape(7, 10) ** 1.5 % 17 / 17
    np.testing.assert_allclose(imresize(x, 0.5), BASICSR_HALF, atol=1e-12)
    # naive MATLAB definition for one axis: 8 taps of 0.5 * cubic(0.5 * d), mirrored indices, normalised.
    def cubic(t):
        t = abs(t)
        return 1.5 * t**3 - 2.5 * t**2 + 1 if t <= 1 else (-0.5 * t**3 + 2.5 * t**2 - 4 * t + 2 if t <= 2 else 0.0)
    col = x[:, 3]
    out = []
    for j in range(1, 5):
        u = 2 * j - 0.5
        acc = wsum = 0.0
        for i in range(int(np.floor(u - 4)), int(np.floor(u - 4)) + 10):
            w = 0.5 * cubic(0.5 * (u - i))
            k = i - 1
            k = -k - 1 if k < 0 else (2 * len(col) - 1 - k if k >= len(col) else k)
            acc, wsum = acc + w * col[k], wsum + w
        out.append(acc / wsum)
    np.testing.assert_allclose(imresize(col[:, None], 1.0)[:, 0], col, atol=1e-12)  # identity at scale 1
    np.testing.assert_allclose(resize_matrix(7, 0.5) @ col, out, atol=1e-12)


def test_aggd_fit_recovers_a_generalised_gaussian():
    for shape, scale in ((0.8, 1.0), (2.0, 0.5)):
        x = stats.gennorm.rvs(shape, scale=scale, size=200_000, random_state=np.random.default_rng(1))
        alpha, beta_l, beta_r = aggd_fit(x[None])
        assert alpha[0] == pytest.approx(shape, rel=0.03)
        # the fit's beta is the scale of exp(-(|x| / beta)^alpha)
        assert beta_l[0] == pytest.approx(scale, rel=0.03) and beta_r[0] == pytest.approx(scale, rel=0.03)


def test_aggd_fit_of_one_sided_samples_is_nan_like_the_reference():
    alpha, beta_l, beta_r = aggd_fit(np.abs(np.random.default_rng(0).normal(size=(1, 50))))
    assert alpha[0] == pytest.approx(0.2) and np.isnan(beta_l[0]) and np.isfinite(beta_r[0])


def test_mscn_matches_a_sliding_window_computation():
    y = np.random.default_rng(2).integers(0, 256, (20, 23)).astype(np.float64)
    g = gaussian_window()
    win = np.lib.stride_tricks.sliding_window_view(np.pad(y, 3, mode="edge"), (7, 7))
    mu = (win * g).sum(axis=(-2, -1))
    sigma = np.sqrt(np.abs((win**2 * g).sum(axis=(-2, -1)) - mu**2))
    np.testing.assert_allclose(mscn(y, g), (y - mu) / (sigma + 1), atol=1e-10)


def test_luma_formulas():
    px = np.array([[[255, 0, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)
    np.testing.assert_array_equal(luma(px, "yiq"), [[76, 29, 18]])  # 76.245, 29.07, 18.15 rounded
    np.testing.assert_array_equal(luma(px, "bt601"), [[81, 41, 32]])  # 81.481, 40.966, 31.587 rounded


@pytest.mark.parametrize("name", sorted(SYNTHETIC_REFERENCE))
def test_whole_image_matches_basicsr_and_pyiqa(params, name):
    rgb = getattr(data, name)()
    assert niqe(luma(rgb, "bt601"), params) == pytest.approx(SYNTHETIC_REFERENCE[name]["basicsr"], abs=1e-9)
    # pyiqa rounds a float32 luma (a few .5 ties differ) and resizes in float32: agree within 0.3 %
    assert niqe(luma(rgb, "yiq"), params) == pytest.approx(SYNTHETIC_REFERENCE[name]["pyiqa"], rel=3e-3)


@pytest.mark.skipif(not os.path.isfile(REAL_PARAMS), reason=f"user file {REAL_PARAMS} (BasicSR's) absent")
@pytest.mark.parametrize("name", sorted(REAL_REFERENCE))
def test_real_parameters_match_basicsr_and_pyiqa(name):
    p = load_niqe_params(REAL_PARAMS)
    rgb = getattr(data, name)()
    assert niqe(luma(rgb, "bt601"), p) == pytest.approx(REAL_REFERENCE[name]["basicsr"], abs=1e-6)
    assert niqe(luma(rgb, "yiq"), p) == pytest.approx(REAL_REFERENCE[name]["pyiqa"], rel=3e-3)


def test_errors(params, tmp_path):
    with pytest.raises(WeightsError, match="niqe_pris_params.npz with --niqe_params"):
        load_niqe_params(str(tmp_path / "absent.npz"))
    np.savez(tmp_path / "bad.npz", mu_pris_param=np.zeros(18), cov_pris_param=np.eye(18),
             gaussian_window=np.ones((7, 7)))
    with pytest.raises(WeightsError, match=r"got mu \(18,\)"):
        load_niqe_params(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "keys.npz", mu=np.zeros(36))
    with pytest.raises(WeightsError, match="not a NIQE parameters"):
        load_niqe_params(str(tmp_path / "keys.npz"))
    with pytest.raises(InputError, match="got a 100x150 image, expected at least 2 blocks of 96x96"):
        niqe(np.zeros((100, 150)), params)
