import cv2
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.errors import ConfigError, InputError
from metaf2n_tf.faces import align, pairs, restore
from metaf2n_tf.faces.detect import Face, detect_faces

from tests import optional
from tests.faces.helpers import block_mean


def _face(box, landmarks_offset=(0.0, 0.0), score=0.99):
    """A face with the given box and template-shaped landmarks (1/8 of the 512 template) at an offset."""
    landmarks = align.reference_points() / 8 + np.asarray(landmarks_offset)
    return Face(box=np.asarray(box, np.float64), score=score, landmarks=landmarks)


def _assert_hq_matches_lq(pair):
    """The HQ crop, 4x4 block-averaged, is the LQ crop (LQ = rounded block means of the ground truth)."""
    assert pair.hq.shape == (4 * pair.lq.shape[0], 4 * pair.lq.shape[1], 3)
    assert np.abs(block_mean(pair.hq) - pair.lq).max() <= 0.5


@optional.RETINAFACE
def test_gt_pairs_of_a_detected_face_are_4x_and_aligned(astronaut, astronaut_lq):
    faces = detect_faces(astronaut_lq)
    got = pairs.make_face_pairs(astronaut_lq, faces, restore.GroundTruthRestorer(), astronaut)
    assert [p.index for p in got] == [0]
    pair = got[0]
    x0, y0, x1, y1 = (int(np.floor(v)) for v in faces[0].box)
    np.testing.assert_array_equal(pair.lq, astronaut_lq[y0 : y1 + 1, x0 : x1 + 1])
    _assert_hq_matches_lq(pair)
    record = pair.record
    assert record["crop"] == [x0, y0, x1, y1] and record["score"] > 0.9
    product = np.vstack([record["affine"], [0, 0, 1]]) @ np.vstack([record["affine_inv"], [0, 0, 1]])
    np.testing.assert_allclose(product, np.eye(3), atol=1e-4)
    np.testing.assert_allclose(np.array(record["landmarks"]), faces[0].landmarks, atol=1e-3)


def test_faces_touching_or_leaving_the_border(astronaut, astronaut_lq):
    faces = [
        _face([-6.5, -2.0, 30.2, 40.9]),               # beyond top and left
        _face([100.0, 90.0, 140.0, 131.0], (90, 85)),  # beyond bottom and right
        _face([130.0, 5.0, 150.0, 20.0]),              # wholly outside: no pair, index 2 unused
        _face([40.0, 20.0, 60.0, 50.0], (40, 20)),
    ]
    got = pairs.make_face_pairs(astronaut_lq, faces, restore.GroundTruthRestorer(), astronaut)
    assert [p.index for p in got] == [0, 1, 3]
    assert [p.record["crop"] for p in got] == [[0, 0, 30, 40], [100, 90, 127, 127], [40, 20, 60, 50]]
    for pair in got:
        _assert_hq_matches_lq(pair)


def test_none_restorer_is_the_bicubic_photo(astronaut_lq):
    whole = cv2.resize(astronaut_lq, (512, 512), interpolation=cv2.INTER_CUBIC)
    faces = [_face([40.0, 12.0, 70.0, 50.0], (35, 10))]
    got = pairs.make_face_pairs(astronaut_lq, faces, restore.restorer_by_name("none"))
    np.testing.assert_array_equal(got[0].hq, whole[48:204, 160:284])


def test_network_restorer_pairs_are_4x(astronaut_lq):
    class Identity:
        size = 512

        def restore_aligned(self, face):
            return face

    faces = [_face([-2.0, 10.0, 40.0, 60.0], (5, 12)), _face([60.0, 70.0, 127.0, 127.0], (70, 75))]
    got = pairs.make_face_pairs(astronaut_lq, faces, Identity())
    for pair in got:
        assert pair.hq.shape == (4 * pair.lq.shape[0], 4 * pair.lq.shape[1], 3)
        # An identity restorer gives the photo back at x4: close to its bicubic upscale.
        bicubic = cv2.resize(pair.lq, pair.hq.shape[1::-1], interpolation=cv2.INTER_CUBIC)
        assert np.abs(pair.hq.astype(float) - bicubic).mean() < 4


def test_gt_restorer_needs_a_4x_gt_photo(astronaut, astronaut_lq):
    restorer = restore.GroundTruthRestorer()
    faces = [_face([10.0, 10.0, 30.0, 30.0])]
    with pytest.raises(ConfigError, match="no ground-truth photo"):
        pairs.make_face_pairs(astronaut_lq, faces, restorer)
    with pytest.raises(InputError, match=r"got 256x256, expected 512x512"):
        pairs.make_face_pairs(astronaut_lq, faces, restorer, astronaut[:256, :256])


def test_write_face_pairs_replaces_stale_files_of_that_photo_only(tmp_path, astronaut, astronaut_lq):
    for sub in ("Face_LQ", "Face_HQ"):
        (tmp_path / sub).mkdir()
        for stale in ("astro_7.png", "astrox_0.png", "astro_0_old.png"):
            (tmp_path / sub / stale).write_bytes(b"old")
    got = pairs.make_face_pairs(astronaut_lq, [_face([40.0, 12.0, 70.0, 50.0])],
                                restore.GroundTruthRestorer(), astronaut)
    records = pairs.write_face_pairs(str(tmp_path), "astro", got)
    assert records[0]["lq_file"] == "Face_LQ/astro_0.png" and records[0]["hq_file"] == "Face_HQ/astro_0.png"
    left = sorted(p.name for p in (tmp_path / "Face_LQ").iterdir())
    assert left == ["astro_0.png", "astro_0_old.png", "astrox_0.png"]
    # Files are RGB on disk: OpenCV reads them back as BGR.
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "Face_LQ" / "astro_0.png"))[..., ::-1], got[0].lq)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "Face_HQ" / "astro_0.png"))[..., ::-1], got[0].hq)
