"""--paste_faces: the blend weights against hand-computed values and the blend against NumPy."""
import numpy as np

import metaf2n_tf  # noqa: F401
from metaf2n_tf.faces.align import CropBox, estimate_alignment, reference_points
from metaf2n_tf.faces.paste import edge_ramp, feather_square, paste_faces


def test_edge_ramp_hand_values():
    # 4 rows: ramp length max(2, 0.08 * 4) = 2 px; pixel centres 0.5 and 1.5 px from the nearest edge.
    ramp = edge_ramp(4, 10)
    np.testing.assert_allclose(ramp[:, 5], [0.25, 0.75, 0.75, 0.25])
    np.testing.assert_allclose(ramp[0, :3], [0.25, 0.25, 0.25])
    np.testing.assert_allclose(ramp[1, :3], [0.25, 0.75, 0.75])


def test_feather_square_is_one_inside_zero_at_the_edge():
    mask = feather_square(128)
    assert mask[64, 64] > 0.999 and mask[0, 0] < 0.01 and mask[64, 0] < 0.1
    np.testing.assert_allclose(mask, mask[::-1, ::-1], atol=1e-6)


def test_paste_blends_inside_the_box_only():
    # A face whose five points are the 512 template's, scaled into a 64x64 LQ photo at offset (8, 8).
    landmarks = reference_points(512) / 8 + 8
    alignment = estimate_alignment(landmarks)
    box = CropBox(8, 8, 71, 71)  # the 64x64 aligned square itself, on an 80x80 photo
    canvas = np.zeros((320, 320, 3), np.uint8)
    hq = np.full((256, 256, 3), 200, np.uint8)
    out = paste_faces(canvas, [(hq, alignment, box)])
    assert out[160, 160].tolist() == [200, 200, 200]  # centre of the face: the restored pixel
    inside = np.zeros((320, 320), bool)
    inside[32:288, 32:288] = True
    assert not out[~inside].any()  # nothing outside the box changes
    assert out[33, 160, 0] < 20  # feathered at the box's edge
    row = out[160, 32:160, 0].astype(int)
    assert np.all(np.diff(row) >= 0)  # weights rise monotonically towards the centre
