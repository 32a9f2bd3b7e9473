"""[-1, 1] network output -> uint8: DMDNet's rounding vs cv2.imwrite, GPEN's truncation vs hand-computed values."""
import cv2
import numpy as np
import pytest

from metaf2n_tf.faces.network_range import from_network_uint8


def test_round_matches_cv2_imwrite_of_floats():
    y = np.concatenate([np.linspace(-1.2, 1.2, 997), [0.0, 1 / 255, -1 / 255, 3 / 255]]).astype(np.float32)
    y = np.tile(y.reshape(1, -1, 1), (1, 1, 3))
    upstream = np.clip(y * 0.5 + 0.5, 0, 1) * 255.0  # float32, as DMDNet's script hands it to cv2.imwrite
    ok, png = cv2.imencode(".png", upstream)
    assert ok
    np.testing.assert_array_equal(from_network_uint8(y, "round"), cv2.imdecode(png, cv2.IMREAD_UNCHANGED))


@pytest.mark.parametrize("pixel, truncated, rounded", [
    (0.0, 0, 0), (255.0, 255, 255), (127.5, 127, 128), (100.7, 100, 101), (254.9, 254, 255), (0.4, 0, 0),
])
def test_truncate_and_round_by_hand(pixel, truncated, rounded):
    y = np.float32(pixel / 127.5 - 1.0)  # y * 0.5 + 0.5 = pixel / 255
    assert from_network_uint8(y, "truncate") == truncated
    assert from_network_uint8(y, "round") == rounded


def test_out_of_range_is_clipped_and_unknown_rounding_refused():
    np.testing.assert_array_equal(from_network_uint8(np.float32([-3.0, 3.0]), "truncate"), [0, 255])
    with pytest.raises(ValueError, match="rounding must be one of"):
        from_network_uint8(np.zeros(2, np.float32), "floor")
