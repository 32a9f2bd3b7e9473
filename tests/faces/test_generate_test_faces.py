import json

import cv2
import numpy as np
import pytest
from skimage import data

import metaf2n_tf  # noqa: F401
import generate_test_faces
from tests.faces.helpers import block_mean


def _write(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def _read(path):
    return cv2.imread(str(path))[..., ::-1]


@pytest.fixture
def photos(tmp_path, astronaut, astronaut_lq):
    """LQ/GT folders: a face (128 px, GT 512), a face cut by the left border, a photo without faces,
    and a file that is not an image."""
    lq_dir, gt_dir = tmp_path / "LQ", tmp_path / "GT"
    _write(lq_dir / "astro.png", astronaut_lq)
    _write(gt_dir / "astro.png", astronaut)
    border = astronaut[64:, 192:]  # the face box starts 3 px left of the photo
    _write(lq_dir / "border.png", border)
    _write(gt_dir / "border.png", np.repeat(np.repeat(border, 4, axis=0), 4, axis=1))
    _write(lq_dir / "coffee.png", data.coffee()[::2, ::2])
    (lq_dir / "notes.png").write_bytes(b"not an image")
    return lq_dir, gt_dir, tmp_path / "out"


def test_writes_4x_pairs_metadata_and_lists_bad_photos(photos, capsys):
    lq_dir, gt_dir, out = photos
    rc = generate_test_faces.main(
        ["--input_dir", str(lq_dir), "--output_dir", str(out), "--restorer", "gt", "--gt_dir", str(gt_dir), "--gpu", ""]
    )
    err = capsys.readouterr().err
    assert rc == 1  # one unreadable photo; the others are done
    assert "notes.png: not a readable image" in err and "coffee.png: no face found" in err
    assert sorted(p.name for p in (out / "Face_LQ").iterdir()) == ["astro_0.png", "border_0.png"]
    assert sorted(p.name for p in (out / "Face_HQ").iterdir()) == ["astro_0.png", "border_0.png"]
    for name in ("astro_0.png", "border_0.png"):
        lq, hq = _read(out / "Face_LQ" / name), _read(out / "Face_HQ" / name)
        assert hq.shape == (4 * lq.shape[0], 4 * lq.shape[1], 3)
        assert np.abs(block_mean(hq) - lq).max() <= 0.5  # the GT region of exactly this box

    meta = json.loads((out / "faces.json").read_text())
    assert meta["restorer"] == "gt" and meta["scale"] == 4 and meta["aligned_size"] == 512
    images = {entry["name"]: entry for entry in meta["images"]}
    assert {k: v["status"] for k, v in images.items()} == {
        "astro": "ok", "border": "ok", "coffee": "no face", "notes": "error"}
    border = images["border"]["faces"][0]
    assert border["box"][0] < 0 and border["crop"][0] == 0  # clipped at the border
    assert border["hq_file"] == "Face_HQ/border_0.png" and len(border["landmarks"]) == 5
    assert np.array(border["affine"]).shape == (2, 3) and np.array(border["affine_inv"]).shape == (2, 3)


def test_none_restorer_needs_no_gt(photos):
    lq_dir, _, out = photos
    (lq_dir / "notes.png").unlink()
    assert generate_test_faces.main(
        ["--input_dir", str(lq_dir), "--output_dir", str(out), "--restorer", "none"]) == 0
    lq, hq = _read(out / "Face_LQ" / "astro_0.png"), _read(out / "Face_HQ" / "astro_0.png")
    assert hq.shape == (4 * lq.shape[0], 4 * lq.shape[1], 3)


@pytest.mark.parametrize("args, message", [
    (["--restorer", "gt"], "needs --gt_dir"),
    (["--restorer", "gpen"], "needs --gpen_weights"),
    (["--restorer", "codeformer"], "restorer"),
    (["--score_threshold", "0.2"], "expected a value in [0.5, 1]"),
    (["--no_such_flag"], "no_such_flag"),
])
def test_flag_errors_are_one_line(args, message, tmp_path, capsys):
    rc = generate_test_faces.main(["--input_dir", str(tmp_path), "--output_dir", str(tmp_path / "o")] + args)
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("generate_test_faces.py: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_missing_input_dir(tmp_path, capsys):
    rc = generate_test_faces.main(["--input_dir", str(tmp_path / "nope"), "--restorer", "none"])
    assert rc == 2 and "nope: --input_dir not found" in capsys.readouterr().err
