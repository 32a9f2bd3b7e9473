"""metaf2n_tf.demo and demo.py: the degradation, the face-region PSNR, the table, and errors as one line."""
import math
import types

import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
import config
import demo as demo_script
from metaf2n_tf import demo
from metaf2n_tf.errors import InputError


def test_degrade_of_a_flat_grey_photo_is_grey_plus_small_noise():
    gt = np.full((64, 48, 3), 100, np.uint8)
    lq = demo.degrade(gt)
    assert lq.shape == (16, 12, 3) and lq.dtype == np.uint8  # x4 smaller
    # blur and area averaging keep 100; noise sigma 2 (seeded) then JPEG 70 leave a small spread around it
    assert abs(lq.mean() - 100.0) < 0.5 and 0.2 < lq.std() < 2.5 and lq.min() >= 92 and lq.max() <= 108
    np.testing.assert_array_equal(lq, demo.degrade(gt))  # seed 0: the same photo every run


def test_face_psnr_scores_the_union_of_boxes_at_x4():
    gt = np.zeros((16, 16, 3), np.uint8)
    sr = gt.copy()
    sr[4:8, 0:8] = 10  # inside the box of LQ crop x 0..1, y 1..1 -> rows 4..7, cols 0..7
    sr[12:, 12:] = 255  # outside every box: not counted
    pairs = [types.SimpleNamespace(record={"crop": (0, 1, 1, 1)})]
    assert demo._face_psnr(sr, gt, pairs) == pytest.approx(20 * math.log10(255 / 10))
    assert math.isnan(demo._face_psnr(sr, gt, []))


def test_format_table():
    rows = [("bicubic x4 (reference)", 23.391, 0.70091, 23.6, 0.0)]
    assert demo.format_table(rows).splitlines() == [
        "| setting | PSNR whole (dB) | SSIM whole | PSNR faces (dB) | seconds |", "|---|---|---|---|---|",
        "| bicubic x4 (reference) | 23.39 | 0.7009 | 23.60 | 0.0 |"]


def test_failed_setting_is_an_input_error_and_the_script_prints_one_line(monkeypatch, tmp_path, capsys):
    gt = np.zeros((32, 32, 3), np.uint8)
    seen = []
    detectors = []  # the face detector's (backend, gpu) prepare was given

    def prepare(output_dir, backend, gpu):
        detectors.append((backend, gpu))
        return gt, gt[:8, :8], [], []

    monkeypatch.setattr(demo, "prepare", prepare)

    def failing_run_folder(cfg):
        seen.append(cfg)
        return types.SimpleNamespace(failed=[cfg.input_dir + "/astronaut.png"])

    monkeypatch.setattr(demo, "run_folder", failing_run_folder)
    with pytest.raises(InputError, match=r"Res_sgd_0\.01_x0: the run for 'no adaptation.*' failed on 1 photo\(s\)"):
        demo.run(str(tmp_path), config.AdaptConfig(model_dir="weights.h5", seed=3, backend="tf", gpu="1"))
    assert detectors == [("tf", "1")]  # detection runs on the script's backend too
    cfg = seen[0]  # the script's config reaches run_folder, with the setting's own values
    assert (cfg.model_dir, cfg.seed, cfg.fine_tune_num, cfg.optimizer) == ("weights.h5", 3, 0, "sgd")
    assert cfg.input_dir == str(tmp_path / "LQ") and cfg.face_dir == str(tmp_path)
    assert demo_script.main([f"--output_dir={tmp_path}"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("demo.py")]
    assert errors == [f"demo.py: {tmp_path}/Res_sgd_0.01_x0: the run for 'no adaptation (fine_tune_num 0)' failed "
                      "on 1 photo(s)"]
