"""calculate_metrics.py end to end on small folders the test writes: table, CSV, skips and one-line errors."""
import csv
import math

import cv2
import numpy as np
import pytest
from skimage import data

import calculate_metrics
from tests import optional, pth_writer
from metaf2n_tf.weights.torchvision import read_lpips_lin
from tests.metrics.lpips_reference import alexnet_weights
from tests.models.test_lpips import numpy_lpips


@pytest.fixture()
def folders(tmp_path):
    rng = np.random.default_rng(0)
    res, gt = tmp_path / "res", tmp_path / "gt"
    res.mkdir(), gt.mkdir()
    for name, photo in (("p1", data.astronaut()[:64, :64]), ("p2", data.coffee()[:64, :64])):
        noisy = np.clip(photo + rng.normal(0, 8, photo.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(gt / f"{name}.png"), photo[..., ::-1])
        cv2.imwrite(str(res / f"{name}.png"), noisy[..., ::-1])
    cv2.imwrite(str(res / "extra.png"), np.zeros((8, 8, 3), np.uint8))
    (res / "broken.png").write_bytes(b"broken")
    cv2.imwrite(str(gt / "broken.png"), np.zeros((8, 8, 3), np.uint8))
    return res, gt


def run(args, capsys):
    rc = calculate_metrics.main([*args, "--progress=false"])
    out, err = capsys.readouterr()
    return rc, out, err


def original_psnr(a, b, coeffs=(24.966, 128.553, 65.481)):
    """The original's PSNR-Y (BGR weights on RGB data); ``coeffs`` (65.481, 128.553, 24.966) is BT.601 on RGB."""
    ya, yb = ((np.dot(x, coeffs) / 255.0 + 16.0).round().astype(np.uint8) for x in (a, b))
    return 20 * math.log10(1 / math.sqrt(np.mean((ya / 255.0 - yb / 255.0) ** 2)))


def test_table_csv_skips_and_mismatches(folders, tmp_path, capsys):
    res, gt = folders
    absent = str(tmp_path / "absent")
    rc, out, err = run(["--result_dir", str(res), "--gt_dir", str(gt), "--fid_ref_dir", str(gt),
                        "--csv", str(tmp_path / "m.csv"), "--alexnet_weights", absent,
                        "--inception_weights", absent, "--niqe_params", absent], capsys)
    assert rc == 0
    assert "2 of 3 matched pair(s) scored" in out and "mean" in out
    lines = err.strip().splitlines()
    assert any(l.startswith("calculate_metrics.py: LPIPS skipped:") and "--alexnet_weights" in l for l in lines)
    assert any(l.startswith("calculate_metrics.py: FID skipped:") and "--inception_weights" in l for l in lines)
    assert any(l.startswith("calculate_metrics.py: NIQE skipped:") and "--niqe_params" in l for l in lines)
    assert "calculate_metrics.py: 1 result(s) without ground truth: extra" in lines
    assert any(l.startswith("calculate_metrics.py: broken: skipped:") for l in lines)
    with open(tmp_path / "m.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["name", "psnr", "ssim"] and [r[0] for r in rows[1:]] == ["p1", "p2"]
    want = original_psnr(cv2.imread(str(res / "p1.png"))[..., ::-1], cv2.imread(str(gt / "p1.png"))[..., ::-1])
    assert float(rows[1][1]) == pytest.approx(want, abs=1e-12)


@optional.LPIPS
def test_lpips_with_user_weights_and_bt601_option(folders, tmp_path, capsys):
    res, gt = folders
    pth_writer.save(alexnet_weights(), tmp_path / "alex.pth")
    rc, out, _ = run(["--result_dir", str(res), "--gt_dir", str(gt), "--metrics", "psnr,lpips", "--y_coeffs", "bt601",
                      "--alexnet_weights", str(tmp_path / "alex.pth"), "--csv", str(tmp_path / "m.csv")], capsys)
    assert rc == 0
    with open(tmp_path / "m.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["name", "psnr", "lpips"]
    for name, psnr, lpips in rows[1:]:
        a, b = (cv2.imread(str(folder / f"{name}.png"))[..., ::-1] for folder in (res, gt))
        assert float(psnr) == pytest.approx(original_psnr(a, b, (65.481, 128.553, 24.966)), abs=1e-4)
        assert float(psnr) != pytest.approx(original_psnr(a, b), abs=1e-2)  # the option changes the figure
        lin = read_lpips_lin()
        want = numpy_lpips(a[None] / 255.0, b[None] / 255.0, alexnet_weights(), lin)[0]
        assert float(lpips) == pytest.approx(want, rel=1e-3)


@pytest.mark.parametrize("args, message", [
    (["--metrics", "psnr,mse"], "--metrics: got psnr,mse"),
    (["--crop_border", "-1"], "crop_border"),
    (["--no_such_flag"], "no_such_flag"),
    (["--result_dir", "/nonexistent/res"], "/nonexistent/res: folder not found"),
])
def test_user_errors_are_one_line(folders, args, message, capsys):
    res, gt = folders
    rc, _, err = run(["--result_dir", str(res), "--gt_dir", str(gt), *args], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("calculate_metrics.py: ") and message in err


def test_fid_needs_two_images_per_folder(folders, tmp_path, capsys):
    res, gt = folders
    single = tmp_path / "single"
    single.mkdir()
    cv2.imwrite(str(single / "p1.png"), np.zeros((8, 8, 3), np.uint8))
    rc, out, err = run(["--result_dir", str(res), "--gt_dir", str(gt), "--fid_ref_dir", str(single),
                        "--metrics", "fid"], capsys)
    assert rc == 0
    want = f"calculate_metrics.py: FID skipped: {single}: got 1 image(s), FID needs at least 2"
    assert err.strip().splitlines()[-1] == want


def test_a_present_but_bad_weights_file_is_an_error(folders, tmp_path, capsys):
    res, gt = folders
    (tmp_path / "bad.npz").write_bytes(b"junk")
    rc, _, err = run(["--result_dir", str(res), "--gt_dir", str(gt), "--metrics", "niqe",
                      "--niqe_params", str(tmp_path / "bad.npz")], capsys)
    assert rc == 2 and "bad.npz: not a NIQE parameters .npz" in err and len(err.strip().splitlines()) == 2
