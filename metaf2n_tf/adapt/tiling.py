"""Whole-image SR in overlapping tiles, so memory stays bounded for large photos.

Each tile of ``tile`` x ``tile`` LQ pixels is run with ``tile_pad`` extra context pixels on every side and
only its own region of the output is kept. A tile at the image border takes its missing context from the
inside instead (its input window is shifted, not clipped) when the backend asks for it (OpenVINO), so every tile of a photo has the same input
shape: OpenVINO compiles one model per photo size, not four. TensorFlow runs clipped border tiles. RRDBNet's receptive field is far larger than
any practical pad, so tiled output is close to, never exactly, the untiled one.

Automatic tiling (``tile`` < 0) picks the largest tile whose estimated peak memory fits a budget (default:
half of the memory available when the run starts), then evens the tiles out so that none is much smaller
than the others. The estimate is a per-backend fit of measured peak RSS (benchmarks/bench_memory.py).
"""
import math
import sys

import numpy as np

from metaf2n_tf.models import SCALE
DEFAULT_PAD = 48  # tile 64: max 4-5 grey levels off untiled on real crops where pad 32 gives 13-25
MIN_AUTO_TILE = 32

# Peak RSS of a process running x4plus (RRDBNet x4, 64 features) on an LQ input of n pixels, in bytes:
# BASE + PER_PIXEL * n. Measured with benchmarks/bench_memory.py on this project's CPU machine (2026-11-30):
# TensorFlow 2.21: 858 MiB loaded, +12.5 kB per LQ pixel at 192x192 (+20 kB at 64x64); OpenVINO 2026.4:
# 412 MiB loaded (no TensorFlow), +8.4 kB per LQ pixel at 192x192 and 320x320 (one 64-channel feature map
# at x4 is 4 kB per LQ pixel). Rounded up. TensorFlow loaded beside OpenVINO (for adaptation) adds its own.
MEMORY_MODEL = {
    "tf": (1.2e9, 16e3),
    "openvino": (0.5e9, 9e3),
    "openvino-winograd": (0.55e9, 20e3),  # Winograd graph: 537 / 799 / 1652 / 3152 MiB peak at 64 / 128 / 256 / 384 px
}
TENSORFLOW_BYTES = 1.0e9  # TensorFlow + the Keras models and adaptation graphs, in an OpenVINO process
# Whatever the tiles, the photo itself: float32 input (12 B per LQ pixel), float32 x4 output (192 B) and the
# uint8 conversion's temporaries when it is saved (up to 2 x 192 + 48 B).
IMAGE_BYTES_PER_PIXEL = 650


def available_memory():
    """Bytes of memory available now (MemAvailable of /proc/meminfo; physical pages elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def estimate_peak(height, width, backend):
    """Estimated peak RSS in bytes of a process running ``backend`` on one LQ input of height x width."""
    base, per_pixel = MEMORY_MODEL[backend]
    return base + per_pixel * height * width


def auto_tile(height, width, pad=DEFAULT_PAD, backend="tf", max_memory=None, tensorflow_loaded=None):
    """The tile for ``tile=-1``: 0 (whole image) when it fits ``max_memory`` bytes, else the largest fitting tile.

    ``max_memory`` None means half of :func:`available_memory`; the photo's own arrays are taken off it
    (``IMAGE_BYTES_PER_PIXEL``), and with OpenVINO, TensorFlow's share when it is loaded too
    (``tensorflow_loaded`` None: whether it is imported now). The tile is then evened out: a 1000-pixel
    side with a 700 limit gets two tiles of 500, not 700 + 300. Never below ``MIN_AUTO_TILE``.
    """
    budget = available_memory() / 2 if max_memory is None else max_memory
    budget -= IMAGE_BYTES_PER_PIXEL * height * width
    if tensorflow_loaded is None:
        tensorflow_loaded = "tensorflow" in sys.modules
    if backend == "openvino" and tensorflow_loaded:
        budget -= TENSORFLOW_BYTES
    if estimate_peak(height, width, backend) <= budget:
        return 0
    base, per_pixel = MEMORY_MODEL[backend]
    side = math.isqrt(max(int((budget - base) / per_pixel), 0))  # padded input side that fits
    limit = max(side - 2 * pad, MIN_AUTO_TILE)
    return max(math.ceil(n / math.ceil(n / limit)) for n in (height, width))


def resolve_tile(tile, height, width, pad=DEFAULT_PAD, backend="tf", max_memory=None):
    """``tile`` < 0: :func:`auto_tile`; 0: whole image; > 0: as given (0 when one tile covers the image)."""
    if tile < 0:
        tile = auto_tile(height, width, pad, backend, max_memory)
    if tile >= height and tile >= width:
        return 0
    return tile


def tile_grid(height, width, tile, pad, uniform=False):
    """Yields (in_box, core_box): in_box = the tile's input window, core_box = the tile's own region.

    Boxes are (y0, y1, x0, x1) in LQ pixels, end exclusive. ``uniform``: every in_box has the same size,
    ``min(tile + 2 * pad, height)`` x ``min(tile + 2 * pad, width)`` (border windows shifted inwards), and
    contains its core_box, and along a side that one window spans there is one tile, the whole side;
    else border windows are clipped (fewer pixels, several shapes).
    """
    in_h, in_w = min(tile + 2 * pad, height), min(tile + 2 * pad, width)
    tile_h, tile_w = tile, tile
    if uniform:  # a side that one window spans: every window would run on all of it, so one tile
        tile_h, tile_w = (height if in_h == height else tile), (width if in_w == width else tile)
    for y0 in range(0, height, tile_h):
        for x0 in range(0, width, tile_w):
            y1, x1 = min(y0 + tile_h, height), min(x0 + tile_w, width)
            if not uniform:
                yield (max(y0 - pad, 0), min(y1 + pad, height), max(x0 - pad, 0), min(x1 + pad, width)), (y0, y1, x0, x1)
                continue
            py0 = min(max(y0 - pad, 0), height - in_h)
            px0 = min(max(x0 - pad, 0), width - in_w)
            yield (py0, py0 + in_h, px0, px0 + in_w), (y0, y1, x0, x1)


def super_resolve(forward, image, tile=-1, tile_pad=DEFAULT_PAD, progress=None, backend="tf", max_memory=None,
                  uniform=False):
    """SR of one image [H, W, 3] float32 in [0, 1] -> [4H, 4W, 3] float32 (unclamped).

    ``forward`` maps a batch [1, h, w, 3] to [1, 4h, 4w, 3]. ``progress`` (optional) is called as
    ``progress(i, n)`` after tile i of n (1, 1 when the image runs whole).
    ``backend`` and ``max_memory`` (bytes) serve automatic tiling only. ``uniform``: all tiles of one input
    shape (OpenVINO compiles per shape; TensorFlow runs any shape, so it takes the clipped, smaller ones).
    """
    height, width = image.shape[:2]
    tile = resolve_tile(tile, height, width, tile_pad, backend, max_memory)
    if tile == 0:
        out = np.asarray(forward(image[None]))[0]
        if progress is not None:
            progress(1, 1)
        return out
    out = np.zeros((height * SCALE, width * SCALE, 3), np.float32)
    grid = list(tile_grid(height, width, tile, tile_pad, uniform))
    for i, ((py0, py1, px0, px1), (y0, y1, x0, x1)) in enumerate(grid, 1):
        sr = np.asarray(forward(image[None, py0:py1, px0:px1]))[0]
        oy, ox = (y0 - py0) * SCALE, (x0 - px0) * SCALE
        out[y0 * SCALE : y1 * SCALE, x0 * SCALE : x1 * SCALE] = sr[oy : oy + (y1 - y0) * SCALE, ox : ox + (x1 - x0) * SCALE]
        if progress is not None:
            progress(i, len(grid))
    return out
