import numpy as np

import metaf2n_tf  # noqa: F401
from metaf2n_tf.adapt.tiling import resolve_tile, super_resolve, tile_grid


def _nearest_x4(batch):
    return np.repeat(np.repeat(np.asarray(batch), 4, axis=1), 4, axis=2)


def _box_blur_x4(batch):
    # receptive field radius 2 LQ pixels: tiles with pad >= 2 must be exact
    x = np.asarray(batch)[0]
    padded = np.pad(x, ((2, 2), (2, 2), (0, 0)), mode="constant")
    out = sum(padded[dy:dy + x.shape[0], dx:dx + x.shape[1]] for dy in range(5) for dx in range(5)) / 25.0
    return _nearest_x4(out[None])


def test_grid_covers_every_pixel_once():
    seen = np.zeros((70, 45), int)
    for (py0, py1, px0, px1), (y0, y1, x0, x1) in tile_grid(70, 45, 32, 5):
        assert py0 <= y0 and py1 >= y1 and px0 <= x0 and px1 >= x1
        seen[y0:y1, x0:x1] += 1
    assert (seen == 1).all()


def test_tiles_exact_for_pointwise_and_for_pad_beyond_receptive_field():
    image = np.random.default_rng(0).random((37, 50, 3)).astype(np.float32)
    np.testing.assert_array_equal(super_resolve(_nearest_x4, image, tile=16, tile_pad=0), _nearest_x4(image[None])[0])
    whole = _box_blur_x4(image[None])[0]
    np.testing.assert_allclose(super_resolve(_box_blur_x4, image, tile=16, tile_pad=2), whole, atol=1e-6)
    assert np.abs(super_resolve(_box_blur_x4, image, tile=16, tile_pad=0) - whole).max() > 1e-3


def test_auto_tile():
    assert resolve_tile(-1, 100, 100) == 0
    assert resolve_tile(-1, 1500, 2000) > 0
    assert resolve_tile(64, 10, 10) == 64 and resolve_tile(0, 5000, 5000) == 0
