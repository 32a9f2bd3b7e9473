"""Five-point face alignment to MetaF2N's 512x512 template, its inverse, and the x4 warp back.

Geometry follows the original (``align_faces.py``): the 96x112 five-point template is made square
(+8 px in x), padded by ``inner_padding_factor`` 0.25 on every side (168x168) and scaled to 512; a
similarity transform (rotation, uniform scale, translation; Umeyama least squares, here scikit-image's)
maps the detected landmarks onto it. Two fixes of the original:

- landmarks are used as detected (sub-pixel floats); the original truncated them to int first;
- the warp back onto the x4 canvas respects pixel centres: LQ pixel ``i`` covers HQ pixels
  ``4i .. 4i+3``, so HQ coordinate = 4 * LQ coordinate + 1.5. The original multiplied the whole
  inverse matrix by 4, which shifts the pasted face by 1.5 HQ pixels right and down.

All warps are bilinear with a black (0) border; the original's ``flags=3`` (INTER_AREA) is treated as
bilinear by ``cv2.warpAffine`` anyway. Matrices are OpenCV 2x3 forward maps on pixel-centre coordinates.
"""
import dataclasses
import math

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

from metaf2n_tf.errors import InputError
from metaf2n_tf.models import SCALE

# The 96x112 five-point template of the original (x, y): left eye, right eye, nose, left/right mouth corner.
BASE_POINTS = np.array([
    [30.29459953, 51.69630051],
    [65.53179932, 51.50139999],
    [48.02519989, 71.73660278],
    [33.54930115, 92.3655014],
    [62.72990036, 92.20410156],
])
BASE_SIZE = np.array([96.0, 112.0])  # width, height
ALIGNED_SIZE = 512
INNER_PADDING = 0.25


def reference_points(size=ALIGNED_SIZE, inner_padding_factor=INNER_PADDING):
    """The five template points (x, y) of a ``size`` x ``size`` aligned face.

    The template is first made square (the narrow side grows, points move by half the growth), then
    grown by ``inner_padding_factor`` of its side on each border, then scaled to ``size``.
    """
    points = BASE_POINTS.copy()
    side = BASE_SIZE.max()
    points += (side - BASE_SIZE) / 2
    padding = side * inner_padding_factor * 2
    points += padding / 2
    side += round(padding)
    return points * (size / side)


def similarity_matrix(src, dst):
    """2x3 least-squares similarity transform (Umeyama, with scale) taking ``src`` points onto ``dst``."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
        transform = SimilarityTransform.from_estimate(src, dst)
        ok = bool(transform)
    else:
        transform = SimilarityTransform()
        ok = transform.estimate(src, dst)
    if not ok or not np.all(np.isfinite(transform.params)) or abs(np.linalg.det(transform.params[:2, :2])) < 1e-12:
        raise InputError(f"landmarks: got {np.round(src, 2).tolist()}, expected five distinct points")
    return transform.params[:2].copy()


@dataclasses.dataclass(frozen=True)
class Alignment:
    """A face's similarity transform: ``matrix`` photo -> aligned face, ``inverse`` aligned face -> photo."""

    matrix: np.ndarray
    inverse: np.ndarray
    size: int


def estimate_alignment(landmarks, size=ALIGNED_SIZE, inner_padding_factor=INNER_PADDING):
    """Alignment of a face from its five (x, y) landmarks (float photo pixels) to the template."""
    matrix = similarity_matrix(landmarks, reference_points(size, inner_padding_factor))
    return Alignment(matrix=matrix, inverse=cv2.invertAffineTransform(matrix), size=size)


def warp_to_face(image, alignment):
    """The aligned ``size`` x ``size`` face cut from ``image`` (bilinear, black outside the photo)."""
    return cv2.warpAffine(
        image, alignment.matrix, (alignment.size, alignment.size),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )


def upscale_matrix(matrix, scale=SCALE):
    """A 2x3 map into LQ pixels turned into the same map into the x``scale`` canvas (pixel centres kept)."""
    out = np.asarray(matrix, np.float64) * scale
    out[:, 2] += (scale - 1) / 2
    return out


@dataclasses.dataclass(frozen=True)
class CropBox:
    """An inclusive pixel box ``[x0, x1] x [y0, y1]`` of the LQ photo; its x``scale`` twin on the canvas."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def from_box(cls, box, height, width):
        """The original's crop of a detection box (floored corners), clipped to the photo on all four
        sides (the original clipped only top/left; numpy slicing hid the rest). None if nothing is left."""
        x0, y0, x1, y1 = (math.floor(v) for v in box)
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, width - 1), min(y1, height - 1)
        if x1 < x0 or y1 < y0:
            return None
        return cls(x0, y0, x1, y1)

    @property
    def shape(self):
        return self.y1 - self.y0 + 1, self.x1 - self.x0 + 1

    def slices(self, scale=1):
        """(rows, cols) slices of the box on the x``scale`` canvas (``scale=1``: the LQ photo)."""
        return (slice(scale * self.y0, scale * (self.y1 + 1)), slice(scale * self.x0, scale * (self.x1 + 1)))


def warp_back(face, alignment, box, scale=SCALE):
    """Pastes an aligned (restored) face onto ``box`` of the x``scale`` canvas.

    Returns:
      (pixels, coverage): float32 ``(scale*h, scale*w, C)`` pixels (0 where the aligned square does not
      reach) and ``(scale*h, scale*w, 1)`` coverage in [0, 1] (bilinear at the square's edge).
    """
    matrix = upscale_matrix(alignment.inverse, scale)
    matrix[:, 2] -= (scale * box.x0, scale * box.y0)
    height, width = box.shape
    dsize = (scale * width, scale * height)

    def warp(image):
        return cv2.warpAffine(image, matrix, dsize, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    pixels = warp(np.asarray(face, np.float32))
    coverage = warp(np.ones(face.shape[:2], np.float32))[..., np.newaxis]
    return pixels, coverage
