import cv2
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.errors import InputError
from metaf2n_tf.faces import align

# The original's 512 template by hand: 96x112 points + 8 px in x (square 112), + 28 px (0.25 * 112) on
# each side (168), times 512 / 168. E.g. left eye x: (30.2946 + 8 + 28) * 512 / 168 = 202.04.
TEMPLATE_512 = [(202.04, 242.88), (309.43, 242.29), (256.08, 303.96), (211.96, 366.83), (300.89, 366.34)]


def _similarity(scale, degrees, tx, ty):
    c, s = scale * np.cos(np.radians(degrees)), scale * np.sin(np.radians(degrees))
    return np.array([[c, -s, tx], [s, c, ty]])


def _apply(matrix, points):
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_reference_points_match_the_hand_computed_template():
    np.testing.assert_allclose(align.reference_points(512), TEMPLATE_512, atol=0.01)
    np.testing.assert_allclose(align.reference_points(256), np.array(TEMPLATE_512) / 2, atol=0.01)


def test_recovers_a_known_similarity_from_a_warped_synthetic_face():
    # A 512 "face" (template dots on a smooth background) warped into a photo by a known similarity.
    yy, xx = np.mgrid[0:512, 0:512]
    face = np.dstack([xx // 2, yy // 2, (xx + yy) // 4]).astype(np.uint8)
    for x, y in align.reference_points():
        cv2.circle(face, (int(round(x)), int(round(y))), 6, (255, 255, 255), -1)
    to_photo = _similarity(0.3, 17.0, 40.0, 25.0)
    photo = cv2.warpAffine(face, to_photo, (240, 220), flags=cv2.INTER_AREA)
    landmarks = _apply(to_photo, align.reference_points())

    got = align.estimate_alignment(landmarks)
    np.testing.assert_allclose(got.matrix, cv2.invertAffineTransform(to_photo), atol=1e-9)
    np.testing.assert_allclose(got.inverse, to_photo, atol=1e-9)
    np.testing.assert_allclose(_apply(got.matrix, landmarks), align.reference_points(), atol=1e-9)
    # The realigned face shows the template dots where the template puts them.
    back = align.warp_to_face(photo, got)
    for x, y in align.reference_points():
        assert back[int(round(y)), int(round(x))].min() > 200


def test_least_squares_with_noisy_landmarks_keeps_sub_pixel_input():
    to_face = _similarity(2.5, -8.0, -100.0, 30.0)
    landmarks = _apply(cv2.invertAffineTransform(to_face), align.reference_points()) + 0.4
    got = align.estimate_alignment(landmarks)  # a pure 0.4 px shift: still an exact similarity
    np.testing.assert_allclose(_apply(got.matrix, landmarks), align.reference_points(), atol=1e-9)
    truncated = align.estimate_alignment(landmarks.astype(np.int32))  # the original's int cast
    assert np.abs(_apply(truncated.matrix, landmarks) - align.reference_points()).max() > 0.5


def test_upscale_matrix_keeps_pixel_centres():
    np.testing.assert_allclose(align.upscale_matrix(np.eye(2, 3)), [[4, 0, 1.5], [0, 4, 1.5]])
    # LQ pixel 0 spans HQ pixels 0..3: its centre 0 maps to 1.5; pixel 10 to 41.5.
    np.testing.assert_allclose(_apply(align.upscale_matrix(np.eye(2, 3)), np.array([[10.0, 0.0]])), [[41.5, 1.5]])


def _smooth(x, y):
    return 128 + 60 * np.sin(x / 9.0) * np.cos(y / 7.0) + 0.3 * (x - y)


def test_warp_back_lands_on_the_analytic_x4_photo():
    # LQ samples a smooth function at pixel centres; the true x4 photo samples it at (X + 0.5) / 4 - 0.5.
    height, width = 96, 120
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    lq = np.rint(np.repeat(_smooth(xx, yy)[..., None], 3, -1)).astype(np.uint8)
    yy4, xx4 = np.mgrid[0 : 4 * height, 0 : 4 * width].astype(np.float64)
    hq_true = np.repeat(_smooth((xx4 + 0.5) / 4 - 0.5, (yy4 + 0.5) / 4 - 0.5)[..., None], 3, -1)

    alignment = align.estimate_alignment(align.reference_points() / 6 + (20.0, 15.0))
    box = align.CropBox(30, 25, 70, 70)
    pixels, coverage = align.warp_back(align.warp_to_face(lq, alignment), alignment, box)
    assert pixels.shape == (4 * 46, 4 * 41, 3) and coverage.shape == (4 * 46, 4 * 41, 1)
    inside = coverage[..., 0] > 0.999
    assert inside.mean() > 0.9
    err = np.abs(pixels - hq_true[box.slices(4)])[inside]
    assert err.mean() < 0.6

    # The original's 4 * inverse (no half-pixel term) is 1.5 HQ pixels off: clearly worse.
    old = cv2.warpAffine(align.warp_to_face(lq, alignment), alignment.inverse * 4, (4 * width, 4 * height),
                         flags=cv2.INTER_LINEAR)
    assert np.abs(old[box.slices(4)].astype(np.float64) - hq_true[box.slices(4)])[inside].mean() > 1.5


def test_crop_box_clips_every_side():
    box = align.CropBox.from_box([10.7, 5.2, 30.9, 40.0], 50, 60)
    assert (box.x0, box.y0, box.x1, box.y1, box.shape) == (10, 5, 30, 40, (36, 21))
    assert box.slices(4) == (slice(20, 164), slice(40, 124))
    assert align.CropBox.from_box([-3.5, -0.2, 75.0, 49.5], 50, 60) == align.CropBox(0, 0, 59, 49)
    assert align.CropBox.from_box([60.0, 10.0, 90.0, 20.0], 50, 60) is None


def test_degenerate_landmarks_are_an_input_error():
    with pytest.raises(InputError, match="expected five distinct points"):
        align.estimate_alignment(np.full((5, 2), 7.0))
