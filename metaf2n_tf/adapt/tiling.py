"""Whole-image SR in overlapping tiles, so memory stays bounded for large photos.

Each tile of ``tile`` x ``tile`` LQ pixels is run with ``tile_pad`` extra context pixels on every side
(clipped at the image border) and only its own region of the output is kept. RRDBNet's receptive
field is far larger than any practical pad, so tiled output is close to, never exactly, the untiled one.
"""
import numpy as np

from metaf2n_tf.models.rrdbnet import SCALE
AUTO_TILE = 256  # LQ pixels; with the default pad 48 a tile runs on at most 352x352 (output 1408x1408)
AUTO_MAX_PIXELS = 352 * 352  # images up to this many LQ pixels run whole
DEFAULT_PAD = 48  # tile 64: max 4-5 grey levels off untiled on real crops where pad 32 gives 13-25


def resolve_tile(tile, height, width):
    """``tile`` < 0 means automatic: whole image when small, else ``AUTO_TILE``; 0 disables tiling."""
    if tile < 0:
        return 0 if height * width <= AUTO_MAX_PIXELS else AUTO_TILE
    return tile


def tile_grid(height, width, tile, pad):
    """Yields (in_box, core_box): in_box = padded input region, core_box = the tile's own region.

    Boxes are (y0, y1, x0, x1) in LQ pixels, end exclusive.
    """
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            yield (max(y0 - pad, 0), min(y1 + pad, height), max(x0 - pad, 0), min(x1 + pad, width)), (y0, y1, x0, x1)


def super_resolve(forward, image, tile=-1, tile_pad=DEFAULT_PAD, progress=None):
    """SR of one image [H, W, 3] float32 in [0, 1] -> [4H, 4W, 3] float32 (unclamped).

    ``forward`` maps a batch [1, h, w, 3] to [1, 4h, 4w, 3]. ``progress`` (optional) is called once per tile.
    """
    height, width = image.shape[:2]
    tile = resolve_tile(tile, height, width)
    if tile == 0 or (tile >= height and tile >= width):
        return np.asarray(forward(image[None]))[0]
    out = np.zeros((height * SCALE, width * SCALE, 3), np.float32)
    for (py0, py1, px0, px1), (y0, y1, x0, x1) in tile_grid(height, width, tile, tile_pad):
        sr = np.asarray(forward(image[None, py0:py1, px0:px1]))[0]
        oy, ox = (y0 - py0) * SCALE, (x0 - px0) * SCALE
        out[y0 * SCALE : y1 * SCALE, x0 * SCALE : x1 * SCALE] = sr[oy : oy + (y1 - y0) * SCALE, ox : ox + (x1 - x0) * SCALE]
        if progress is not None:
            progress()
    return out
