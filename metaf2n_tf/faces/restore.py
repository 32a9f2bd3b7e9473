"""Face restorers: where the HQ half of each test face pair comes from (``--restorer``).

- ``gt``: the same region of the ground-truth photo (synthetic test sets, ``--gt_dir``); exact, no network.
- ``none``: bicubic x4 of the LQ photo, for checks (no restoration at all).
- ``gpen``: GPEN-BFR-512 with user-supplied weights (``metaf2n_tf.faces.gpen``), as in the original.
- ``dmdnet``: DMDNet with user-supplied weights (``metaf2n_tf.faces.dmdnet``), each face's 68 landmarks
  detected offline (or one template landmark file for all faces).

``gt`` and ``none`` are :class:`CanvasRestorer` objects: they cut the HQ crop from a whole x4 canvas.
Network restorers expose ``.size`` (aligned face side, 512) and ``.restore_aligned(face_rgb_uint8)``
returning a uint8 RGB face of the same size; :func:`restored_crop` aligns the face, restores it and warps
it back onto the x4 canvas (the original's way, with the pixel-centre and black-margin fixes).
All faces are RGB: the original fed GPEN BGR crops flipped to RGB and flipped back (its "RGB" comment
on the output was wrong); here no BGR exists past file reading.
"""
import glob
import os

import cv2
import numpy as np

from metaf2n_tf.data.images import read_rgb
from metaf2n_tf.errors import ConfigError, InputError
from metaf2n_tf.faces.align import SCALE, warp_back, warp_to_face

RESTORERS = ("gt", "none", "gpen", "dmdnet")
_NEEDS_GT_DIR = "--restorer gt: needs --gt_dir (the folder of ground-truth photos)"
# Bicubic taps reach 2 LQ pixels beyond a box; a margin of 3 keeps the crop identical to a whole-photo resize.
_BICUBIC_MARGIN = 3


def bicubic_crop(lq_rgb, box, scale=SCALE):
    """``box`` of the bicubic x``scale`` photo (``cv2.resize`` INTER_CUBIC), computed from the box only.

    Equal, pixel for pixel, to resizing the whole photo and cropping: the box is resized with enough
    real context around it, and at the photo's border the context ends where the photo does.
    """
    height, width = lq_rgb.shape[:2]
    y0, x0 = max(box.y0 - _BICUBIC_MARGIN, 0), max(box.x0 - _BICUBIC_MARGIN, 0)
    y1, x1 = min(box.y1 + _BICUBIC_MARGIN, height - 1), min(box.x1 + _BICUBIC_MARGIN, width - 1)
    region = lq_rgb[y0:y1 + 1, x0:x1 + 1]
    up = cv2.resize(region, (scale * region.shape[1], scale * region.shape[0]), interpolation=cv2.INTER_CUBIC)
    top, left = scale * (box.y0 - y0), scale * (box.x0 - x0)
    rows, cols = box.shape
    return up[top:top + scale * rows, left:left + scale * cols]


def check_gt_shape(gt_shape, lq_shape, what="gt photo", scale=SCALE):
    """InputError unless the ground truth is exactly ``scale`` times the LQ photo."""
    expected = (scale * lq_shape[0], scale * lq_shape[1])
    if tuple(gt_shape[:2]) != expected:
        raise InputError(
            f"{what}: got {gt_shape[0]}x{gt_shape[1]}, expected {expected[0]}x{expected[1]} "
            f"({scale}x the LQ photo {lq_shape[0]}x{lq_shape[1]})"
        )


class CanvasRestorer:
    """A restorer that reads the HQ face off a whole x4 canvas (no alignment involved)."""

    name = ""
    needs_gt = False

    def hq_crop(self, lq_rgb, gt_rgb, box):
        """The x4 crop of ``box`` (uint8 RGB)."""
        raise NotImplementedError


class GroundTruthRestorer(CanvasRestorer):
    """``gt``: the HQ face is the ground-truth photo's same region.

    ``gt_dir`` is where :meth:`read_gt` finds each photo's ground truth; in-memory callers (the demo)
    may leave it out and hand the ground-truth photo to ``pairs.make_face_pairs`` themselves.
    """

    name = "gt"
    needs_gt = True

    def __init__(self, gt_dir=None):
        if gt_dir is not None and not os.path.isdir(gt_dir):
            raise ConfigError(f"{gt_dir}: --gt_dir not found (expected a folder of ground-truth photos)")
        self.gt_dir = None if gt_dir is None else os.fspath(gt_dir)

    def gt_path(self, lq_path):
        """The ground truth of ``lq_path``: the same file name in ``gt_dir``, else ``{stem}.*`` there."""
        if self.gt_dir is None:
            raise ConfigError(_NEEDS_GT_DIR)
        base = os.path.basename(lq_path)
        same = os.path.join(self.gt_dir, base)
        if os.path.isfile(same):
            return same
        stem = os.path.splitext(base)[0]
        found = sorted(glob.glob(os.path.join(glob.escape(self.gt_dir), glob.escape(stem) + ".*")))
        if not found:
            raise InputError(f"{lq_path}: no ground truth in {self.gt_dir} (expected {base} or {stem}.*)")
        return found[0]

    def read_gt(self, lq_path, lq_shape):
        """Reads the ground truth of ``lq_path`` and checks it is 4x the LQ photo."""
        path = self.gt_path(lq_path)
        gt = read_rgb(path)
        check_gt_shape(gt.shape, lq_shape, what=path)
        return gt

    def hq_crop(self, lq_rgb, gt_rgb, box):
        if gt_rgb is None:
            raise ConfigError("restorer 'gt': no ground-truth photo given for this image")
        check_gt_shape(np.shape(gt_rgb), lq_rgb.shape)
        return np.ascontiguousarray(gt_rgb[box.slices(SCALE)])


class BicubicRestorer(CanvasRestorer):
    """``none``: the HQ face is the bicubic x4 LQ photo (no restoration; for checks)."""

    name = "none"

    def hq_crop(self, lq_rgb, gt_rgb, box):
        return bicubic_crop(lq_rgb, box)


def restored_crop(restorer, lq_rgb, alignment, box):
    """The x4 crop of ``box`` after a network restorer: align, restore, warp back.

    Where the aligned square does not reach the crop, the bicubic x4 photo fills in (the original left
    those pixels black), blended by the warp's coverage.
    """
    face = warp_to_face(lq_rgb, alignment)
    restored = np.asarray(restorer.restore_aligned(face))
    if restored.shape != face.shape or restored.dtype != np.uint8:
        raise ConfigError(
            f"restorer {type(restorer).__name__}: returned {restored.shape} {restored.dtype}, "
            f"expected {face.shape} uint8"
        )
    pixels, coverage = warp_back(restored, alignment, box)
    fill = bicubic_crop(lq_rgb, box).astype(np.float32)
    return np.clip(np.rint(pixels + (1.0 - coverage) * fill), 0, 255).astype(np.uint8)


NETWORKS = ("gpen", "dmdnet")


def network_restorer(name, weights, flag="--weights", **options):
    """The network restorer ``name`` (``gpen`` or ``dmdnet``) on the weights file ``weights``.

    ``flag`` is the option that names the weights (in the error when they are missing); ``options`` go
    to the restorer (``dmdnet``: ``aligned_landmarks``). Every network restorer has ``size``,
    ``restore_aligned(face)`` and ``save_weights(path)``.
    """
    if name not in NETWORKS:
        raise ConfigError(f"--restorer: got '{name}', expected one of {', '.join(NETWORKS)}")
    if not weights:
        raise ConfigError(f"--restorer {name}: needs {flag} PATH (upstream .pth or converted .h5; "
                          "no weights ship offline)")
    if name == "gpen":
        from metaf2n_tf.faces.gpen import GPENRestorer

        return GPENRestorer(weights, **options)
    from metaf2n_tf.faces.dmdnet import DMDNetRestorer

    return DMDNetRestorer(weights, **options)


def restorer_by_name(name, *, gt_dir=None, weights=None, landmarks=None):
    """The restorer named by ``--restorer``: one of ``gt``, ``none``, ``gpen``, ``dmdnet``.

    Args:
      name: restorer name.
      gt_dir: folder of ground-truth photos (``gt`` only).
      weights: weights file of a network restorer (``gpen``: GPEN-BFR-512; ``dmdnet``).
      landmarks: ``dmdnet`` only, optional: one 68-point landmark file of the aligned 512 face (the
        template frame) for every face; without it each face's landmarks are detected.
    """
    if name == "gt":
        if not gt_dir:
            raise ConfigError(_NEEDS_GT_DIR)
        return GroundTruthRestorer(gt_dir)
    if name == "none":
        return BicubicRestorer()
    if name not in NETWORKS:
        raise ConfigError(f"--restorer: got '{name}', expected one of {', '.join(RESTORERS)}")
    options = {"aligned_landmarks": landmarks} if name == "dmdnet" and landmarks else {}
    return network_restorer(name, weights, flag=f"--{name}_weights", **options)
