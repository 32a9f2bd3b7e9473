"""Restored faces blended back into the super-resolved photo (``--paste_faces``).

As Real-ESRGAN's face enhancement does with GFPGAN: the restored face goes back through the inverse
of its alignment, under a mask that is 1 well inside the aligned square and falls smoothly to 0 at its
edge (the square shrunk by ``size / 16`` and blurred with sigma ``size / 32``), so no seam shows. Here
the restored face is the HQ crop of the face pair (the face box at x4: for a network restorer that is
already the aligned face warped back, for ``gt`` the ground truth), so the blend is also limited to
that box, with a ramp of ``EDGE_FRACTION`` of the box side at the box's own edges.
"""
import functools

import cv2
import numpy as np

from metaf2n_tf.faces.align import SCALE, warp_back

EDGE_FRACTION = 0.08


@functools.lru_cache(maxsize=4)
def feather_square(size):
    """The ``size`` x ``size`` float32 mask of the aligned face: 1 inside, smooth 0 at the edges."""
    margin = size // 16
    mask = np.zeros((size, size), np.float32)
    mask[margin:size - margin, margin:size - margin] = 1.0
    return cv2.GaussianBlur(mask, (0, 0), size / 32)


def edge_ramp(height, width, fraction=EDGE_FRACTION):
    """(height, width) weights rising linearly from ~0 at the box edge to 1 at ``fraction`` of its side."""
    ramp = max(2.0, fraction * min(height, width))
    ys = np.minimum(np.arange(height) + 0.5, height - np.arange(height) - 0.5)
    xs = np.minimum(np.arange(width) + 0.5, width - np.arange(width) - 0.5)
    return np.clip(np.minimum.outer(ys, xs) / ramp, 0.0, 1.0).astype(np.float32)


def blend_mask(alignment, box, scale=SCALE):
    """The blend weights (4h, 4w) of one face on its x``scale`` box: feathered square x edge ramp."""
    square = feather_square(alignment.size)
    warped, _ = warp_back(square, alignment, box, scale)
    warped = warped.reshape(warped.shape[:2])
    return warped * edge_ramp(*warped.shape)


def paste_faces(image, faces):
    """Blends each ``(hq_crop, alignment, box)`` into a copy of the x4 ``image`` (uint8 RGB)."""
    out = image.astype(np.float32)
    for hq, alignment, box in faces:
        region = box.slices(SCALE)
        weight = blend_mask(alignment, box)[..., None]
        out[region] = weight * hq.astype(np.float32) + (1.0 - weight) * out[region]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
