"""68-point landmarks of aligned faces (``metaf2n_tf.faces.landmarks``) and detect_landmarks.py.

References, none computed by the code under test:
- RetinaFace's five points of the aligned astronaut (``conftest.aligned_astronaut``, another network):
  its eye centres against the mean of points 36-41 / 42-47, nose tip against point 30, mouth corners
  against 48 / 54;
- five points annotated by eye on the aligned astronaut (512² frame of the five-point template, the face
  from scikit-image 0.25's ``data.astronaut()``, aligned as the fixture does), read off 4x nearest-neighbour
  enlargements with an 8-pixel grid: pupil centres (197, 244.5) and (311.75, 251.25) (the eye's 6 points
  surround the pupil: their mean is compared), mouth corners (197.5, 350) and (307.5, 354.5), lowest point
  of the chin (247.5, 455.5) (point 8);
- geometry: a face scaled or moved within a larger canvas keeps its landmarks, scaled or moved.
The accuracy against upstream FAN's landmarks on 117 real faces is measured by tools/measure_landmarks.py
(figures in the README): those faces cannot ship here.
"""
import cv2
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
import detect_landmarks
from metaf2n_tf.errors import InputError
from metaf2n_tf.faces import landmarks as lm

HAND = np.array([[197.0, 244.5], [311.75, 251.25], [197.5, 350.0], [307.5, 354.5], [247.5, 455.5]])


def five_of(points):
    """Eye centres, nose tip, mouth corners of 68 iBUG points."""
    return np.stack([points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]])


@pytest.fixture(scope="module")
def detector():
    return lm.LandmarkDetector()


@pytest.fixture(scope="module")
def astro_points(detector, aligned_astronaut):
    return detector.detect(aligned_astronaut[0], "astronaut")


def test_points_agree_with_retinaface(astro_points, aligned_astronaut):
    five = aligned_astronaut[1]
    eyes = np.linalg.norm(five[0] - five[1])
    err = np.linalg.norm(five_of(astro_points) - five, axis=1) / eyes
    # Two networks trained on different annotations: ~0.05 of the eye distance apart (0.02..0.06 measured).
    assert err.max() < 0.08 and err.mean() < 0.06, err


def test_points_agree_with_hand_annotation(astro_points):
    ours = np.concatenate([five_of(astro_points)[[0, 1, 3, 4]], astro_points[8:9]])
    err = np.linalg.norm(ours - HAND, axis=1) / np.linalg.norm(HAND[0] - HAND[1])
    assert err.max() < 0.06, err  # 6 % of the eye distance: ~7 px here (measured 0.3 %..4.5 %)
    assert astro_points.shape == (68, 2) and astro_points.dtype == np.float64


def test_points_follow_a_scaled_or_moved_face(detector, aligned_astronaut, astro_points):
    face = aligned_astronaut[0]
    half = cv2.resize(face, (256, 256), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((600, 640, 3), np.uint8)
    canvas[40:552, 100:612] = face  # a non-square image, the face moved by (100, 40)
    small, moved = detector.detect_batch([half, canvas])
    eyes = np.linalg.norm(astro_points[36] - astro_points[45])
    assert np.linalg.norm(2 * small - astro_points, axis=1).mean() / eyes < 0.03
    assert np.linalg.norm(moved - [100, 40] - astro_points, axis=1).mean() / eyes < 0.03


def test_batch_equals_one_at_a_time(detector, aligned_astronaut):
    face = aligned_astronaut[0]
    flipped = np.ascontiguousarray(face[:, ::-1])
    batch = detector.detect_batch([face, flipped])
    np.testing.assert_allclose(batch[1], detector.detect_batch([flipped])[0], atol=1e-3)
    np.testing.assert_allclose(batch[0], detector.detect_batch([face])[0], atol=1e-3)
    # The mirror image: the 12 eye points, as a set, move to x -> 512 - x; their mean with them, up to twice
    # the net's lean to the left (about 3 px here; tools/measure_landmarks.py finds 1-2 px against FAN).
    assert abs((512 - batch[1][36:48, 0].mean()) - batch[0][36:48, 0].mean()) < 8


def test_implausible_points_are_one_line_errors(detector):
    black = np.zeros((512, 512, 3), np.uint8)  # the net's points leave the image
    noise = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)  # they collapse
    with pytest.raises(InputError, match=r"black\.png: no plausible landmarks found \(points reach .* outside"):
        detector.detect(black, "black.png")
    with pytest.raises(InputError, match=r"noise\.png: no plausible landmarks found \(their box is"):
        detector.detect(noise, "noise.png")
    with pytest.raises(InputError, match="not finite"):
        lm.check_landmarks(np.full((68, 2), np.nan), 512, 512, "x")
    with pytest.raises(InputError, match=r"x: got float64 \(4, 4\), expected uint8 RGB"):
        detector.detect_batch([np.zeros((4, 4))], ["x"])


def test_detect_landmarks_script(aligned_astronaut, astro_points, tmp_path, capsys):
    faces, out = tmp_path / "faces", tmp_path / "ldmk"
    faces.mkdir()
    cv2.imwrite(str(faces / "0.png"), aligned_astronaut[0][..., ::-1])
    cv2.imwrite(str(faces / "1.jpg"), np.zeros((512, 512, 3), np.uint8))
    (faces / "2.png").write_bytes(b"not an image")
    rc = detect_landmarks.main(["--input_dir", str(faces), "--output_dir", str(out), "--gpu", ""])
    err = capsys.readouterr().err
    assert rc == 1 and "wrote landmarks of 1 face(s)" in err and "2 with errors" in err
    assert "1.jpg: no plausible landmarks found" in err and "2.png: not a readable image" in err
    assert sorted(p.name for p in out.iterdir()) == ["0.png.txt"]
    lines = (out / "0.png.txt").read_text().splitlines()
    assert len(lines) == 68 and all(len(line.split()) == 2 for line in lines)
    np.testing.assert_allclose(np.loadtxt(out / "0.png.txt"), astro_points, atol=5e-4)  # the PNG round trip is exact
    assert detect_landmarks.main(["--input_dir", str(tmp_path / "none"), "--output_dir", str(out)]) == 2
    assert "none: --input_dir not found" in capsys.readouterr().err
