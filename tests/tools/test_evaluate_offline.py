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


def test_score_and_table_show_the_brightness_shift(tmp_path):
    gt = np.full((16, 16, 3), 100, np.uint8)
    for folder, value in (("gt", 100), ("dark", 90), ("bright", 103)):
        (tmp_path / folder).mkdir()
        write_rgb(str(tmp_path / folder / "a.png"), np.full_like(gt, value))
        write_rgb(str(tmp_path / folder / "b.png"), np.full_like(gt, 2 * value - 100))  # 100, 80, 106
    dark = evaluate_offline.score(str(tmp_path / "dark"), str(tmp_path / "gt"), ["a", "b"])
    assert [r["shift"] for r in dark] == [-10.0, -20.0]
    assert np.isclose(dark[0]["l1"], 10 / 255)
    bright = evaluate_offline.score(str(tmp_path / "bright"), str(tmp_path / "gt"), ["a", "b"])
    keys = ["psnr", "ssim", "l1", "shift"]
    lines = evaluate_offline.table([("dark", dark), ("bright", bright)], keys).splitlines()
    assert "| -15.0 (-20.0 to -10.0) |" in lines[2] and "| +4.5 (+3.0 to +6.0) |" in lines[3]
    # a CSV written before the column: its rows read as n/a, the new ones as numbers
    csv = tmp_path / "old.csv"
    csv.write_text('setting,photo,psnr,ssim,l1\n"old",a,30,0.9,0.01\n"old",b,31,0.9,0.02\n')
    old, _ = evaluate_offline.read_csv(str(csv), ["a", "b"], keys)
    lines = evaluate_offline.table(old + [("bright", bright)], keys).splitlines()
    assert "| n/a |" in lines[2] and "| +4.5 (+3.0 to +6.0) |" in lines[3]
