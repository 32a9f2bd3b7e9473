import math

import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
from metaf2n_tf.adapt.tiling import (
    IMAGE_BYTES_PER_PIXEL, MEMORY_MODEL, auto_tile, available_memory, estimate_peak, resolve_tile, super_resolve, tile_grid,
)


def _nearest_x4(batch):
    return np.repeat(np.repeat(np.asarray(batch), 4, axis=1), 4, axis=2)


def _box_blur_x4(batch):
    # receptive field radius 2 LQ pixels: tiles with pad >= 2 must be exact
    x = np.asarray(batch)[0]
    padded = np.pad(x, ((2, 2), (2, 2), (0, 0)), mode="constant")
    out = sum(padded[dy:dy + x.shape[0], dx:dx + x.shape[1]] for dy in range(5) for dx in range(5)) / 25.0
    return _nearest_x4(out[None])


@pytest.mark.parametrize("uniform", [True, False])
def test_grid_covers_every_pixel_once(uniform):
    seen = np.zeros((70, 45), int)
    for (py0, py1, px0, px1), (y0, y1, x0, x1) in tile_grid(70, 45, 32, 5, uniform):
        assert py0 <= y0 and py1 >= y1 and px0 <= x0 and px1 >= x1
        assert (py0 == max(y0 - 5, 0) and py1 == min(y1 + 5, 70)) or uniform  # clipped: just the pad around
        seen[y0:y1, x0:x1] += 1
    assert (seen == 1).all()


@pytest.mark.parametrize("uniform", [True, False])
def test_tiles_exact_for_pointwise_and_for_pad_beyond_receptive_field(uniform):
    image = np.random.default_rng(0).random((37, 50, 3)).astype(np.float32)
    got = super_resolve(_nearest_x4, image, tile=16, tile_pad=0, uniform=uniform)
    np.testing.assert_array_equal(got, _nearest_x4(image[None])[0])
    whole = _box_blur_x4(image[None])[0]
    np.testing.assert_allclose(super_resolve(_box_blur_x4, image, tile=16, tile_pad=2, uniform=uniform), whole, atol=1e-6)
    assert np.abs(super_resolve(_box_blur_x4, image, tile=16, tile_pad=0, uniform=uniform) - whole).max() > 1e-3


def test_resolve_tile():
    assert resolve_tile(-1, 100, 100, max_memory=8 * 2**30) == 0
    assert resolve_tile(-1, 1500, 2000, max_memory=8 * 2**30) > 0
    assert resolve_tile(64, 100, 10) == 64 and resolve_tile(0, 5000, 5000) == 0
    assert resolve_tile(64, 10, 10) == 0  # one tile covering the image is the whole image
    # 30 + 2 * 48 spans 120: uniform windows would all run on the whole height, so one row of tiles
    assert len(list(tile_grid(120, 400, 30, 48, uniform=True))) == 14
    assert len(list(tile_grid(120, 120, 30, 48, uniform=True))) == 1


def test_every_tile_has_the_same_input_shape_and_holds_its_core():
    for height, width, tile, pad in ((70, 45, 32, 5), (37, 50, 16, 2), (100, 30, 40, 48), (9, 9, 4, 1)):
        boxes = list(tile_grid(height, width, tile, pad, uniform=True))
        shapes = {(py1 - py0, px1 - px0) for (py0, py1, px0, px1), _ in boxes}
        assert shapes == {(min(tile + 2 * pad, height), min(tile + 2 * pad, width))}
        for (py0, py1, px0, px1), (y0, y1, x0, x1) in boxes:
            assert 0 <= py0 <= y0 < y1 <= py1 <= height and 0 <= px0 <= x0 < x1 <= px1 <= width
            # context on both sides whenever the image has it (a border tile takes it from the inside)
            assert py0 == 0 or y0 - py0 >= pad
            assert px0 == 0 or x0 - px0 >= pad


def test_auto_tile_fits_the_budget_and_evens_tiles_out():
    gib = 2**30
    base, per_pixel = MEMORY_MODEL["openvino"]
    photo = IMAGE_BYTES_PER_PIXEL * 200 * 300
    assert auto_tile(200, 300, 48, "openvino", max_memory=base + per_pixel * 200 * 300 + photo, tensorflow_loaded=False) == 0  # fits whole
    assert auto_tile(200, 300, 48, "openvino", max_memory=base + per_pixel * 200 * 300, tensorflow_loaded=False) > 0  # not with the photo
    photo = IMAGE_BYTES_PER_PIXEL * 1000 * 1000
    for side in (200, 450, 700):
        budget = base + per_pixel * side * side + photo
        tile = auto_tile(1000, 1000, 48, "openvino", max_memory=budget, tensorflow_loaded=False)
        assert 32 <= tile < 1000 and estimate_peak(tile + 96, tile + 96, "openvino") + photo <= budget
        # the largest such tile, up to evening out: a few more pixels would not fit or not save a tile
        limit = side - 2 * 48
        assert math.ceil(1000 / tile) == math.ceil(1000 / limit)
    budget = base + per_pixel * 800 * 800 + photo  # limit 800 - 96: two tiles of 500, not 704 + 296
    assert auto_tile(1000, 1000, 48, "openvino", max_memory=budget, tensorflow_loaded=False) == 500
    # TensorFlow loaded beside OpenVINO (adaptation) takes its share: smaller tiles
    budget = base + per_pixel * 600 * 600 + photo  # limit 504: 2 x 500; less TensorFlow's share: 3 x 334
    assert auto_tile(1000, 1000, 48, "openvino", max_memory=budget, tensorflow_loaded=False) == 500
    assert auto_tile(1000, 1000, 48, "openvino", max_memory=budget, tensorflow_loaded=True) == 334
    tf_tile = auto_tile(1000, 1000, 48, "tf", max_memory=6 * gib)
    assert tf_tile < auto_tile(1000, 1000, 48, "openvino", max_memory=6 * gib, tensorflow_loaded=True)  # TF needs more per pixel
    assert auto_tile(5000, 5000, 48, "tf", max_memory=0) == 32  # never below the floor
    assert resolve_tile(-1, 1000, 1000, 48, "openvino", max_memory=1e15) == 0
    assert 0 < available_memory() < 2**50
