import cv2
import numpy as np

import metaf2n_tf  # noqa: F401
from metaf2n_tf.adapt.face_pairs import face_files, load_face_patches, sample_offsets


def _write(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def _pair(root, name, h, w, seed=0):
    rng = np.random.default_rng(seed)
    hq = rng.integers(0, 256, (4 * h, 4 * w, 3), dtype=np.uint8)
    lq = cv2.resize(hq, (w, h), interpolation=cv2.INTER_AREA)
    _write(root / "Face_LQ" / f"{name}.png", lq)
    _write(root / "Face_HQ" / f"{name}.png", hq)
    return lq[..., ::-1], hq[..., ::-1]


def test_exact_name_match_img1_not_img10(tmp_path):
    for n in ("img1_0", "img1_2", "img10_0", "img1x_0", "img1_1_extra"):
        _pair(tmp_path, n, 20, 20)
    got = [(i, p.rsplit("/", 1)[-1]) for i, p, _ in face_files(str(tmp_path), "img1")]
    assert got == [(0, "img1_0.png"), (2, "img1_2.png")]
    assert [p.rsplit("/", 1)[-1] for _, p, _ in face_files(str(tmp_path), "img10")] == ["img10_0.png"]


def test_offsets_reach_every_valid_position_including_the_last():
    rng = np.random.default_rng(0)
    offs = sample_offsets(rng, 18, 17, 16, 400)
    assert {y for y, _ in offs} == {0, 1, 2} and {x for _, x in offs} == {0, 1}


def test_patches_are_4x_aligned_crops(tmp_path):
    lq, hq = _pair(tmp_path, "a_0", 24, 30)
    got = load_face_patches(str(tmp_path), "a", 64, 16, np.random.default_rng(1))
    assert got.lq.shape == (16, 16, 16, 3) and got.hq.shape == (16, 64, 64, 3) and not got.errors
    for p_lq, p_hq in zip(got.lq, got.hq):
        # locate the LQ patch in the LQ face, then the HQ patch must be the 4x region
        hits = [(y, x) for y in range(24 - 15) for x in range(30 - 15) if np.array_equal(lq[y:y + 16, x:x + 16], p_lq)]
        assert hits
        y, x = hits[0]
        np.testing.assert_array_equal(p_hq, hq[4 * y:4 * y + 64, 4 * x:4 * x + 64])


def test_bad_pairs_listed_and_skipped(tmp_path):
    _pair(tmp_path, "b_0", 20, 20)
    _write(tmp_path / "Face_LQ" / "b_1.png", np.zeros((20, 20, 3), np.uint8))  # no HQ twin
    _write(tmp_path / "Face_LQ" / "b_2.png", np.zeros((20, 20, 3), np.uint8))
    _write(tmp_path / "Face_HQ" / "b_2.png", np.zeros((60, 80, 3), np.uint8))  # not 4x
    got = load_face_patches(str(tmp_path), "b", 64, 4, np.random.default_rng(0))
    assert got.lq.shape[0] == 4 and len(got.used) == 1
    assert any("b_1.png: no HQ twin" in e for e in got.errors)
    assert any("b_2.png: size 80x60, expected 4x its LQ face = 80x80" in e for e in got.errors)


def test_small_face_rule(tmp_path):
    small_lq, small_hq = _pair(tmp_path, "c_0", 12, 14)
    got = load_face_patches(str(tmp_path), "c", 64, 16, np.random.default_rng(0))
    np.testing.assert_array_equal(got.lq[0], small_lq)  # used whole, alone
    np.testing.assert_array_equal(got.hq[0], small_hq)
    assert "used whole" in got.warnings[0]
    _pair(tmp_path, "c_1", 20, 20)  # a larger face: the small one is skipped, whatever the order
    got = load_face_patches(str(tmp_path), "c", 64, 16, np.random.default_rng(0))
    assert got.lq.shape == (16, 16, 16, 3) and "skipped" in got.warnings[0]


def test_no_faces(tmp_path):
    got = load_face_patches(str(tmp_path), "nothing", 64, 16, np.random.default_rng(0))
    assert got.lq is None and not got.errors
