"""tools/evaluate_offline.py's blur reference rows: the blur against SciPy's Gaussian filter, and its flag."""
import numpy as np
import pytest
from scipy import ndimage

from metaf2n_tf.data.images import read_rgb, write_rgb
from metaf2n_tf.errors import ConfigError
from tests.scripts import load_script

evaluate_offline = load_script("tools/evaluate_offline.py")


def test_blur_results_match_scipy_gaussian_filter_inside(tmp_path):
    rng = np.random.default_rng(3)
    image = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
    write_rgb(str(tmp_path / "a.png"), image)
    evaluate_offline.blur_results(str(tmp_path), str(tmp_path / "blurred"), ["a"], 1.5)
    out = read_rgb(str(tmp_path / "blurred" / "a.png")).astype(np.float64)
    expected = ndimage.gaussian_filter(image.astype(np.float64), sigma=(1.5, 1.5, 0), truncate=4.0)
    inside = (slice(8, -8), slice(8, -8))  # borders differ (reflection rules)
    assert np.abs(out[inside] - expected[inside]).max() <= 1.0
    assert np.abs(out - image).mean() > 10  # it did blur the noise


@pytest.mark.parametrize("values", [["x"], ["0"], ["-1", "2"]])
def test_blur_sigmas_rejects_non_positive_numbers(values):
    with pytest.raises(ConfigError, match="--blur_sigmas"):
        evaluate_offline.blur_sigmas(values)
    assert evaluate_offline.blur_sigmas(["0.75", "1.5"]) == [0.75, 1.5]


def test_variant_rows_with_and_without_adaptation():
    rows = evaluate_offline.settings(["a=dir/a", "b=dir/b"], baselines=("none",), plain=True)
    assert [(label, fields["model_dir"], fields["fine_tune_num"]) for label, fields in rows] == [
        ("x4plus, no adaptation", "realesrgan-x4plus", 0),
        ("a, no adaptation", "dir/a", 0), ("a + original rule", "dir/a", 1),
        ("b, no adaptation", "dir/b", 0), ("b + original rule", "dir/b", 1)]
    assert [label for label, _ in evaluate_offline.settings(["a=dir/a"], baselines=())] == ["a + original rule"]
    with pytest.raises(ConfigError, match="--variant"):
        evaluate_offline.settings(["a"], baselines=())
