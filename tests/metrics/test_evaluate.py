"""Per-image scoring, means, CSV, table and folder FID, checked against values computed here by hand."""
import csv
import math

import cv2
import keras
import numpy as np
import pytest
from scipy import linalg

from metaf2n_tf.errors import ConfigError, OutputError
from metaf2n_tf.metrics import evaluate


def test_parse_metrics():
    assert evaluate.parse_metrics(["niqe", " PSNR", "fid"]) == ("psnr", "fid", "niqe")
    with pytest.raises(ConfigError, match="got psnr,mse, expected some of psnr,ssim,lpips,fid,niqe"):
        evaluate.parse_metrics(["psnr", "mse"])
    with pytest.raises(ConfigError, match="got nothing"):
        evaluate.parse_metrics([""])


def test_metrics_without_weights_are_left_out():
    fns = evaluate.image_metrics(("psnr", "lpips", "niqe"))
    assert list(fns) == ["psnr"]


def test_score_pairs_skips_bad_files_and_averages(tmp_path):
    good_r, good_g = np.full((16, 16, 3), 100, np.uint8), np.full((16, 16, 3), 110, np.uint8)
    for name, image in (("r1.png", good_r), ("g1.png", good_g), ("g2.png", good_g)):
        cv2.imwrite(str(tmp_path / name), image)
    (tmp_path / "r2.png").write_bytes(b"broken")
    pairs = [("one", str(tmp_path / "r1.png"), str(tmp_path / "g1.png")),
             ("two", str(tmp_path / "r2.png"), str(tmp_path / "g2.png"))]
    warnings = []
    rows = evaluate.score_pairs(pairs, evaluate.image_metrics(("psnr",)), warnings.append, progress=False)
    # grey 100 vs 110: original luma round(v * 219 / 255 + 16) = 102 vs 110 -> 8 levels
    assert rows == [("one", {"psnr": pytest.approx(20 * math.log10(255 / 8))})]
    assert len(warnings) == 1 and warnings[0].startswith("two: skipped:") and "r2.png" in warnings[0]
    assert evaluate.means(rows, ("psnr",)) == {"psnr": pytest.approx(20 * math.log10(255 / 8))}
    assert math.isnan(evaluate.means([], ("psnr",))["psnr"])


def test_csv_keeps_full_precision_and_table_lists_means(tmp_path):
    rows = [("a", {"psnr": 1 / 3, "niqe": 2.0}), ("b", {"psnr": 0.1 + 0.2, "niqe": 1e-17})]
    evaluate.write_csv(tmp_path / "m.csv", rows, ["psnr", "niqe"])
    with open(tmp_path / "m.csv") as f:
        read = list(csv.reader(f))
    assert read[0] == ["name", "psnr", "niqe"]
    assert [[r[0], float(r[1]), float(r[2])] for r in read[1:]] == [["a", 1 / 3, 2.0], ["b", 0.1 + 0.2, 1e-17]]
    table = evaluate.format_table(rows, ["psnr", "niqe"], evaluate.means(rows, ["psnr", "niqe"]), fid=12.5)
    lines = table.splitlines()
    assert lines[0].split() == ["name", "PSNR", "NIQE"] and lines[-2].split() == ["mean", "0.3167", "1.0000"]
    assert lines[-1].split() == ["FID", "12.5000"]
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(OutputError, match="m.csv: cannot write the CSV"):
        evaluate.write_csv(tmp_path / "file" / "m.csv", rows, ["psnr"])


def test_folder_fid_with_a_colour_feature_extractor(tmp_path):
    # Features = the centre pixel of the 299x299 input in [-1, 1]: the colour of a constant image.
    model = keras.Sequential([keras.Input((299, 299, 3)), keras.layers.Cropping2D(149), keras.layers.Flatten()])
    # (more images than dimensions: with singular covariances sqrt of ~0 eigenvalues amplifies float32 noise)
    colours = {"a": [(10, 20, 30), (200, 100, 0), (90, 90, 250), (40, 200, 70), (120, 5, 60)],
               "b": [(0, 0, 0), (255, 128, 64), (30, 60, 90), (5, 250, 5), (99, 180, 240), (220, 30, 140)]}
    feats = {}
    for folder, rgbs in colours.items():
        (tmp_path / folder).mkdir()
        for i, rgb in enumerate(rgbs):
            cv2.imwrite(str(tmp_path / folder / f"{i}.png"), np.full((20, 30, 3), rgb[::-1], np.uint8))
        feats[folder] = np.array(rgbs) / 255 * 2 - 1
    (mu1, s1), (mu2, s2) = ((f.mean(0), np.cov(f, rowvar=False)) for f in (feats["a"], feats["b"]))
    want = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1 + s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real)
    got = evaluate.folder_fid(model, str(tmp_path / "a"), str(tmp_path / "b"), print, progress=False)
    assert got == pytest.approx(want, rel=1e-5) and got > 0.1
