import cv2
import numpy as np
import pytest
from skimage import data

import metaf2n_tf  # noqa: F401
from metaf2n_tf.errors import ConfigError, InputError, WeightsError
from metaf2n_tf.faces import detect
from tests import optional

# Measured once on scikit-image's astronaut (512x512) by drawing the detection over the photo at 4x and
# reading the pupils, nose tip and mouth corners by eye (left = smaller x); the box hugs hairline to chin.
ASTRONAUT_BOX = np.array([177.0, 60.0, 270.0, 181.0])
ASTRONAUT_LANDMARKS = np.array([[202.5, 103.0], [245.5, 103.0], [225.0, 128.0], [203.0, 140.0], [246.0, 140.0]])


def _one_face(faces):
    assert len(faces) == 1, [f.box for f in faces]
    return faces[0]


@optional.RETINAFACE
def test_astronaut_box_landmarks_and_score(astronaut):
    face = _one_face(detect.detect_faces(astronaut))
    assert face.score > 0.9
    np.testing.assert_allclose(face.box, ASTRONAUT_BOX, atol=4)
    np.testing.assert_allclose(face.landmarks, ASTRONAUT_LANDMARKS, atol=3)


@optional.RETINAFACE
def test_astronaut_at_quarter_scale(astronaut_lq):
    face = _one_face(detect.detect_faces(astronaut_lq))
    assert face.score > 0.9
    np.testing.assert_allclose(face.box, ASTRONAUT_BOX / 4, atol=3.5)
    np.testing.assert_allclose(face.landmarks, ASTRONAUT_LANDMARKS / 4, atol=2.5)


@optional.RETINAFACE
def test_any_size_crop_maps_back_to_the_photo(astronaut):
    # 300 x 345: neither side a multiple of 32, width != height: padding and per-axis scaling must cancel.
    crop = np.ascontiguousarray(astronaut[10:310, 100:445])
    face = _one_face(detect.detect_faces(crop))
    offset = np.array([100.0, 10.0])
    np.testing.assert_allclose(face.landmarks + offset, ASTRONAUT_LANDMARKS, atol=3)
    np.testing.assert_allclose(face.box + np.tile(offset, 2), ASTRONAUT_BOX, atol=4)


@optional.RETINAFACE
def test_large_photo_is_detected_downscaled_and_mapped_back(astronaut):
    big = cv2.resize(astronaut, (1600, 1600), interpolation=cv2.INTER_CUBIC)  # > 1500: detected at 1000
    face = _one_face(detect.detect_faces(big))
    factor = 1600 / 512
    assert 0.9 < face.score <= 1.0  # not divided by the resize factor (the original's bug)
    np.testing.assert_allclose(face.landmarks / factor, ASTRONAUT_LANDMARKS, atol=3)
    np.testing.assert_allclose(face.box / factor, ASTRONAUT_BOX, atol=12)


@optional.RETINAFACE
@pytest.mark.parametrize("name", ["coffee", "rocket"])
def test_no_face_on_photos_without_faces(name):
    assert detect.detect_faces(getattr(data, name)(), score_threshold=0.5) == []


def test_decode_rows_by_hand():
    rows = np.zeros((3, 16))
    rows[0, :4] = [0.25, 0.5, 0.5, 1.0]
    rows[0, 4:14] = np.linspace(0.1, 1.0, 10)
    rows[0, 15] = 0.95
    rows[1, :4] = [0.0, 0.0, 0.125, 0.25]
    rows[1, 15] = 0.99
    rows[2, 15] = 0.8  # below the threshold
    faces = detect.decode_rows(rows, padded_hw=(64, 128), scale_xy=(0.5, 0.25), score_threshold=0.9)
    assert [f.score for f in faces] == [0.99, 0.95]  # best first
    # x: * 128 / 0.5 = * 256; y: * 64 / 0.25 = * 256.
    np.testing.assert_allclose(faces[0].box, [0, 0, 32, 64])
    np.testing.assert_allclose(faces[1].box, [64, 128, 128, 256])
    np.testing.assert_allclose(faces[1].landmarks[0], [0.1 * 256, 0.2 * 256])
    np.testing.assert_allclose(faces[1].landmarks[4], [0.9 * 256, 1.0 * 256])


def test_padding_and_detection_size():
    assert detect.pad_to_stride(np.zeros((10, 33, 3))).shape == (32, 64, 3)
    assert detect.pad_to_stride(np.zeros((64, 96, 3))).shape == (64, 96, 3)
    assert detect.detection_size(1500, 900) == (1500, 900)
    assert detect.detection_size(2000, 3000) == (667, 1000)


@optional.RETINAFACE
def test_bad_images_and_threshold(astronaut):
    with pytest.raises(InputError, match="expected HxWx3 uint8"):
        detect.detect_faces(astronaut[..., 0])
    with pytest.raises(InputError, match="expected HxWx3 uint8"):
        detect.detect_faces(astronaut.astype(np.float32))
    with pytest.raises(ConfigError, match=r"got 0.3, expected a value in \[0.5, 1\]"):
        detect.detect_faces(astronaut, score_threshold=0.3)


def test_missing_package_is_a_weights_error(monkeypatch):
    monkeypatch.setattr(detect.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsError, match="retinaface: package not installed"):
        detect.graph_file()
